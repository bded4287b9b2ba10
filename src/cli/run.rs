//! `fusec run`: train a .fuse file by its plan (`api::run`, or `api::resume` with `--resume`) and print the report;
//! a file split by `kfold(...)` trains every fold (`api::run_folds`, `api::resume_folds`) and prints the folds' report.

use std::path::PathBuf;

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, KFoldResult, ResumeRequest, RunRequest, RunResult};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The .fuse file with a `train { }` plan (with `--resume`, optional: the run's recorded file is used, and a
    /// file given must be that file).
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Run directory (default `runs/<model>-<time>`, never an existing one; for a k-fold file, the folder of its
    /// folds' runs). A directory that holds another run is refused unless `--overwrite` is given.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Replace the run in `--out` if there is one.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Override the plan's number of epochs (same as `--set epochs=N`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the plan's seed (same as `--set seed=N`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue the run in this directory from its last checkpoint, with the file and settings it recorded
    /// (flags that would change them are refused).
    #[arg(long, value_name = "RUNDIR")]
    pub resume: Option<PathBuf>,
    /// Draw the run's figures into RUNDIR/plots when it ends (as `fusec plot RUNDIR`; of a k-fold run, each
    /// fold's into its own directory).
    #[arg(long)]
    pub plots: bool,
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
    let mut printer = Printer {
        json,
        quiet: args.quiet,
    };
    let progress = !args.quiet && !json;
    if let Some(code) = run_kfold(args, &overrides, &device, &mut printer) {
        return code;
    }
    let result = match (&args.resume, &args.file) {
        (Some(dir), file) => {
            let req = ResumeRequest {
                run_dir: dir.clone(),
                file: file.clone(),
                overrides,
                device,
                progress,
                stop_after: args.stop_after,
            };
            api::resume(&req, &mut printer)
        }
        (None, Some(file)) => {
            let req = RunRequest {
                file: file.clone(),
                overrides,
                run_dir: args.out.clone(),
                overwrite: args.overwrite,
                device,
                progress,
                stop_after: args.stop_after,
            };
            api::run(&req, &mut printer)
        }
        // clap requires FILE unless `--resume` is given.
        (None, None) => return 1,
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
            if args.plots {
                return super::plot::plots_into(&run_dir, json);
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

/// A k-fold run (`split = kfold(...)`, or `--resume` of a k-fold directory): every fold, then the folds' report;
/// `None` when the run is not one.
fn run_kfold(
    args: &RunArgs,
    overrides: &[(String, String)],
    device: &candle_core::Device,
    printer: &mut Printer,
) -> Option<i32> {
    let progress = !args.quiet && !printer.json;
    let result = match (&args.resume, &args.file) {
        (Some(dir), file) if api::is_kfold_dir(dir) => {
            let req = ResumeRequest {
                run_dir: dir.clone(),
                file: file.clone(),
                overrides: overrides.to_vec(),
                device: device.clone(),
                progress,
                stop_after: args.stop_after,
            };
            api::resume_folds(&req, printer)
        }
        // A fresh `--resume DIR` with a k-fold file (how a sweep starts each trial) starts the k-fold run there.
        (resume, Some(file))
            if resume
                .as_ref()
                .is_none_or(|d| !d.join(crate::run::CONFIG_FILE).exists()) =>
        {
            let plan = api::kfold_plan(file, overrides)?;
            let req = RunRequest {
                file: file.clone(),
                overrides: overrides.to_vec(),
                run_dir: resume.clone().or_else(|| args.out.clone()),
                overwrite: args.overwrite,
                device: device.clone(),
                progress,
                stop_after: args.stop_after,
            };
            api::run_folds(&req, &plan, printer)
        }
        _ => return None,
    };
    Some(match result {
        Ok(KFoldResult {
            report: Some(report),
            run_dir,
        }) => {
            if printer.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
                println!(
                    "run directory: {} (each fold's run in fold-1 ... fold-{})",
                    run_dir.display(),
                    report.folds.len()
                );
            }
            // Each fold is a run of its own: its figures go into its own directory.
            let folds = 1..=report.folds.len();
            let codes = folds
                .filter(|_| args.plots)
                .map(|i| super::plot::plots_into(&api::fold_dir(&run_dir, i), printer.json));
            codes.max().unwrap_or(0)
        }
        Ok(KFoldResult { run_dir, .. }) => {
            println!(
                "stopped after {} epoch(s); continue with --resume {}",
                args.stop_after.unwrap_or(0),
                run_dir.display()
            );
            0
        }
        Err(e) => report(&e, printer.json),
    })
}
