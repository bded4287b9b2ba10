//! `fusec sweep`: parse the grid, space and seed flags (every malformed one reported at once, as miette
//! diagnostics), build an `api::SweepRequest` for the local or Slurm executor, run it and print the table.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{print_diagnostics, report, Printer};
use crate::api::{self, Executor, SweepRequest};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::sweep::spec::{parse_grid, parse_seeds, parse_space, FLAG_CODE};
use crate::sweep::{slurm, Launch};

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Model files, each with a `train { }` plan.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// A setting and its values, `KEY=V1,V2,...` (repeatable: the grid is the product of all of them).
    #[arg(long, value_name = "KEY=V1,V2")]
    pub grid: Vec<String>,
    /// Draw N random configurations from the `--space` ranges (with the sweep's own seeded generator).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub random: usize,
    /// A range of a random search, `KEY=LOW..HIGH` (uniform) or `KEY=LOW..HIGHlog` (repeatable).
    #[arg(long, value_name = "KEY=LOW..HIGH[log]")]
    pub space: Vec<String>,
    /// The generator seed of the `--random` draws.
    #[arg(long, default_value_t = 0)]
    pub random_seed: u64,
    /// Seeds of every configuration: `1..5` (inclusive) or `1,2,3`.
    #[arg(long, default_value = "1..3")]
    pub seeds: String,
    /// The sweep directory: manifest, one run directory per trial under `trials/`, logs and tables.
    #[arg(long)]
    pub out: PathBuf,
    /// The test metric of the table (default: the first file's selection metric).
    #[arg(long)]
    pub metric: Option<String>,
    /// `local` (worker processes here) or `slurm` (one job array through sbatch).
    #[arg(long, default_value = "local")]
    pub executor: String,
    /// Local trials at a time (default: cores / `--threads`).
    #[arg(long)]
    pub workers: Option<usize>,
    /// `cpu`, `cuda` or `cuda:N` for every trial (with Slurm, `cuda` asks each task for `--gres=gpu:1`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// CPUs of each Slurm task (also the trial's `--threads`; default: `--threads` or 1).
    #[arg(long)]
    pub cpus_per_trial: Option<usize>,
    /// Memory of each Slurm task (`--mem`, e.g. `4G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit of each Slurm task (`--time`, e.g. `02:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// Submit the trials that failed or were preempted once more before giving up.
    #[arg(long)]
    pub resubmit_failed: bool,
    /// Seconds between two `squeue` polls.
    #[arg(long, default_value_t = 5.0)]
    pub poll: f64,
}

/// `--threads` as given to fusec (the global flag), passed on to every trial.
pub fn sweep(
    args: &SweepArgs,
    sets: &[(String, String)],
    threads: Option<usize>,
    json: bool,
) -> i32 {
    let req = match request(args, sets, threads) {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags, &Default::default(), json);
            return 1;
        }
    };
    let result = match api::sweep(&req, &mut Printer::new(json)) {
        Ok(r) => r,
        Err(e) => return report(&e, json),
    };
    print!("{}", result.table.markdown());
    println!(
        "written: {}, {} and {}",
        args.out.join("sweep.md").display(),
        args.out.join("sweep.csv").display(),
        args.out.join("trials.csv").display()
    );
    match result.failure_diagnostic() {
        Some(d) => {
            print_diagnostics(&d.into(), &Default::default(), json);
            1
        }
        None => 0,
    }
}

/// The request of the flags, or every mistake in them.
pub fn request(
    args: &SweepArgs,
    sets: &[(String, String)],
    threads: Option<usize>,
) -> Result<SweepRequest, Diagnostics> {
    let mut diags = Diagnostics::default();
    let grid: Vec<_> = args
        .grid
        .iter()
        .filter_map(|g| keep(&mut diags, parse_grid(g)))
        .collect();
    let space: Vec<_> = args
        .space
        .iter()
        .filter_map(|s| keep(&mut diags, parse_space(s)))
        .collect();
    let seeds = keep(&mut diags, parse_seeds(&args.seeds)).unwrap_or_default();
    let device_ok = args.device == "cpu"
        || args.device == "cuda"
        || args
            .device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok());
    if !device_ok {
        diags.push(
            Diagnostic::error(
                "fusec::cli::device",
                format!(
                    "`--device {}` is not `cpu`, `cuda` or `cuda:N`",
                    args.device
                ),
            )
            .help("`--device cpu` runs everywhere"),
        );
    }
    if !(args.poll.is_finite() && args.poll > 0.0) {
        diags.push(Diagnostic::error(
            FLAG_CODE,
            format!(
                "`--poll {}` must be a positive number of seconds",
                args.poll
            ),
        ));
    }
    let local = args.executor == "local";
    let slurm_flags = [
        ("--partition", args.partition.is_some()),
        ("--cpus-per-trial", args.cpus_per_trial.is_some()),
        ("--mem", args.mem.is_some()),
        ("--time", args.time.is_some()),
        ("--resubmit-failed", args.resubmit_failed),
    ];
    let executor = match args.executor.as_str() {
        "local" => Some(Executor::Local {
            workers: args.workers,
        }),
        "slurm" => Some(Executor::Slurm {
            resources: slurm::Resources {
                partition: args.partition.clone(),
                cpus_per_trial: args.cpus_per_trial.or(threads).unwrap_or(1).max(1),
                mem: args.mem.clone(),
                time: args.time.clone(),
                gpu: args.device.starts_with("cuda"),
            },
            resubmit_failed: args.resubmit_failed,
            poll: Duration::from_secs_f64(args.poll.clamp(0.01, 3600.0)),
        }),
        other => {
            let mut d = Diagnostic::error(
                FLAG_CODE,
                format!("`--executor {other}` is not an executor"),
            );
            d = match did_you_mean(other, ["local", "slurm"]) {
                Some(s) => d.help(format!("did you mean `--executor {s}`?")),
                None => d.help("the executors are `local` and `slurm`"),
            };
            diags.push(d);
            None
        }
    };
    if local {
        for (flag, given) in slurm_flags.iter().filter(|(_, g)| *g) {
            let _ = given;
            diags.push(
                Diagnostic::error(
                    FLAG_CODE,
                    format!("`{flag}` is a Slurm setting, and the executor is `local`"),
                )
                .help("add `--executor slurm`, or drop the flag"),
            );
        }
    } else if args.workers.is_some() {
        diags.push(
            Diagnostic::error(FLAG_CODE, "`--workers` is a setting of the local executor")
                .help("with Slurm every trial is an array task: drop `--workers`"),
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let threads = match &executor {
        Some(Executor::Slurm { resources, .. }) => resources.cpus_per_trial,
        _ => threads.unwrap_or(1).max(1),
    };
    let fusec = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("fusec"));
    Ok(SweepRequest {
        files: args.files.clone(),
        grid,
        space,
        random: args.random,
        random_seed: args.random_seed,
        seeds,
        fixed: sets.to_vec(),
        out: args.out.clone(),
        metric: args.metric.clone(),
        executor: executor.unwrap_or(Executor::Local { workers: None }),
        launch: Launch {
            fusec,
            threads,
            device: args.device.clone(),
        },
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    })
}

/// The value of a parsed flag, its diagnostic kept for the report of every mistake at once.
fn keep<T>(diags: &mut Diagnostics, r: Result<T, Diagnostic>) -> Option<T> {
    r.map_err(|d| diags.push(d)).ok()
}
