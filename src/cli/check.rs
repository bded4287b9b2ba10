//! `fusec check FILE...`: compiles each file and prints its diagnostics, or one "ok" line per file naming its
//! models with their inputs and parameter counts.

use clap::Args;

use super::{print_diagnostics, FsLoader};
use crate::front::{compile, Compiled};
use crate::summary::commas;

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The .fuse files to check.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Also run one batch of the file's training plan forward and backward and report every parameter that
    /// receives no gradient, an all-zero one, or a non-finite one (needs a `train { }` plan and its data).
    #[arg(long)]
    pub grad: bool,
}

/// Checks every file (all of them, even after a failure); exit code 1 if any failed.
pub fn run(args: &CheckArgs, sets: &[(String, String)], json: bool) -> i32 {
    let mut code = 0;
    for file in &args.files {
        match compile(&FsLoader, file, sets, false) {
            Ok(c) => {
                print_diagnostics(&c.warnings, &c.program.sources, json);
                if let Err(e) = super::budget::check_memory(&c, json) {
                    code = code.max(e);
                    continue;
                }
                if !json {
                    println!("{}", ok_line(file, &c));
                }
                if args.grad {
                    code = code.max(super::session::grad_check(
                        std::path::Path::new(file),
                        sets,
                        json,
                    ));
                }
            }
            Err(f) => {
                print_diagnostics(&f.diagnostics, &f.sources, json);
                code = 1;
            }
        }
    }
    code
}

/// `ok examples/mfeat/autofusion.fuse: model Mfeat3, 4 inputs, 123,456 parameters`.
pub fn ok_line(file: &str, c: &Compiled) -> String {
    let models: Vec<String> = c
        .program
        .models
        .iter()
        .zip(&c.shapes)
        .map(|(m, s)| {
            let inputs = m.inputs.len();
            let plural = if inputs == 1 { "" } else { "s" };
            format!(
                "model {}, {inputs} input{plural}, {} parameters",
                m.name,
                commas(s.n_trainable())
            )
        })
        .collect();
    if models.is_empty() {
        format!("ok {file}: no models")
    } else {
        format!("ok {file}: {}", models.join("; "))
    }
}
