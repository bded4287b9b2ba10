//! `fusec run`: train a .fuse file by its plan (`api::run`, or `api::resume` with `--resume`) and print the report.

use std::path::PathBuf;

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, RunRequest, RunResult};

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
    let req = RunRequest {
        file: args.file.clone(),
        overrides,
        run_dir: args.out.clone(),
        device,
        progress: !args.quiet && !json,
        stop_after: args.stop_after,
    };
    let mut printer = Printer {
        json,
        quiet: args.quiet,
    };
    let result = match &args.resume {
        Some(dir) => api::resume(&req, dir, &mut printer),
        None => api::run(&req, &mut printer),
    };
    match result {
        Ok(RunResult {
            report: Some(report),
            run_dir,
            ..
        }) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
                println!("run directory: {}", run_dir.display());
            }
            0
        }
        Ok(RunResult { run_dir, .. }) => {
            println!(
                "stopped after {} epoch(s); continue with --resume {}",
                args.stop_after.unwrap_or(0),
                run_dir.display()
            );
            0
        }
        Err(e) => report(&e, json),
    }
}
