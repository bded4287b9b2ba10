//! `fusec check FILE...`: compiles each file and prints its diagnostics, or one "ok" line per file naming its
//! models with their inputs and parameter counts.

use clap::Args;

use super::{print_diagnostics, report, Printer};
use crate::api;
use crate::front::Compiled;
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
        match api::compile_file(file, sets, false, &mut Printer::new(json)) {
            Ok(c) => {
                if !json {
                    println!("{}", ok_line(file, &c));
                }
                if args.grad {
                    code = code.max(grad_check(file, sets, json));
                }
            }
            Err(e) => code = code.max(report(&e, json)),
        }
    }
    code
}

/// `--grad`: prints "gradient flow ok" or a warning per parameter without a usable gradient (exit code 1).
fn grad_check(file: &str, sets: &[(String, String)], json: bool) -> i32 {
    match api::grad_check(std::path::Path::new(file), sets, &mut Printer::new(json)) {
        Ok(g) if g.warnings.is_empty() => {
            if !json {
                println!(
                    "gradient flow ok: all {} trainable parameters receive gradients",
                    g.n_trainable
                );
            }
            0
        }
        Ok(g) => {
            print_diagnostics(&g.warnings, &g.sources, json);
            1
        }
        Err(e) => report(&e, json),
    }
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
