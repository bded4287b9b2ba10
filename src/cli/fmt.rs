//! `fusec fmt [--check] FILE...`: rewrites .fuse files in the canonical layout (`api::format_file`), or with
//! `--check` reports each file that is not in it, at the first line that would change.

use std::path::PathBuf;

use clap::Args;

use super::{print_diagnostics, report};
use crate::api;

#[derive(Args, Debug, Clone)]
pub struct FmtArgs {
    /// The .fuse files to format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing: report every file that is not formatted (exit code 1 if any).
    #[arg(long)]
    pub check: bool,
}

/// Formats (or checks) every file, even after a failure; exit code 1 if any failed or, with `--check`, differed.
pub fn run(args: &FmtArgs, json: bool) -> i32 {
    let mut code = 0;
    for path in &args.files {
        let f = match api::format_file(path) {
            Ok(f) => f,
            Err(e) => {
                code = code.max(report(&e, json));
                continue;
            }
        };
        let shown = path.display().to_string();
        if args.check {
            if let Some(d) = f.check(&shown) {
                print_diagnostics(&d.into(), &f.sources, json);
                code = 1;
            }
            continue;
        }
        if f.changed() {
            if let Err(e) = crate::run::write_atomic(path, f.formatted.as_bytes()) {
                eprintln!("error: cannot write {shown}: {e}");
                code = 1;
                continue;
            }
            if !json {
                println!("formatted {shown}");
            }
        }
    }
    code
}
