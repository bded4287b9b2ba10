//! `fusec run`: compile a .fuse file, load its data, train it by its plan, and print the report.

use std::path::{Path, PathBuf};

use clap::Args;

use super::print_diagnostics;
use super::session::{compile_for_training, device_or_report, Prepared};
use crate::run::{train, RunError, RunOptions};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The .fuse file with a `train { }` plan.
    pub file: PathBuf,
    /// Run directory (default `runs/<model>-<time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Override the plan's number of epochs (same as `--set epochs=N`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the plan's seed (same as `--set seed=N`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, value_name = "RUNDIR")]
    pub resume: Option<PathBuf>,
    /// No progress bars or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop after N epochs as if killed (to test `--resume`).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

pub fn run(args: &RunArgs, sets: &[(String, String)], json: bool) -> i32 {
    let mut overrides = sets.to_vec();
    if let Some(e) = args.epochs {
        overrides.push(("epochs".into(), e.to_string()));
    }
    if let Some(s) = args.seed {
        overrides.push(("seed".into(), s.to_string()));
    }
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let prepared = match compile_for_training(&args.file, &overrides, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Prepared {
        compiled,
        model_index,
        plan,
        data,
        config,
    } = prepared;
    let model = &compiled.program.models[model_index];
    let shapes = &compiled.shapes[model_index];
    if !args.quiet {
        eprintln!("{}", data.report);
    }
    let (run_dir, resume) = match &args.resume {
        Some(dir) => (dir.clone(), true),
        None => (
            args.out
                .clone()
                .unwrap_or_else(|| default_run_dir(&model.name)),
            false,
        ),
    };
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume,
        device,
        progress: !args.quiet && !json,
        stop_after: args.stop_after,
        config,
    };
    let quiet = args.quiet;
    let mut log = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    match train(model, shapes, &plan, &data, &opts, &mut log) {
        Ok(outcome) => {
            super::session::report_grad_problems(
                &outcome.grad_problems,
                &outcome.net,
                &compiled.program.sources,
                json,
            );
            if let Err(e) = crate::run::save_standardization(&data, &run_dir) {
                return run_error(&e, &compiled.program.sources, json);
            }
            match outcome.report {
                Some(report) => {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{report}");
                        println!("run directory: {}", run_dir.display());
                    }
                }
                None => println!(
                    "stopped after {} epoch(s); continue with --resume {}",
                    args.stop_after.unwrap_or(0),
                    run_dir.display()
                ),
            }
            0
        }
        Err(e) => run_error(&e, &compiled.program.sources, json),
    }
}

/// Prints a run error and returns the exit code: 2 for internal errors, 1 for the user's.
pub fn run_error(e: &RunError, sources: &crate::source::SourceMap, json: bool) -> i32 {
    let code = match e {
        RunError::NonFinite { .. } => "fusec::run::non_finite",
        RunError::Config(_) => "fusec::run::config",
        RunError::Io(_) => "fusec::run::io",
        RunError::Candle(_) => "fusec::internal",
    };
    let diag = crate::diag::Diagnostic::error(code, e.to_string());
    print_diagnostics(&diag.into(), sources, json);
    if matches!(e, RunError::Candle(_)) {
        2
    } else {
        1
    }
}

fn default_run_dir(model: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Path::new("runs").join(format!("{model}-{secs}"))
}
