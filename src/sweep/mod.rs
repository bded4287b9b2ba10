//! Sweeps (`fusec sweep`): many trainings — files × configurations × seeds — run as ordinary `fusec run`
//! processes, each into its own run directory under `SWEEPDIR/trials/`, so every run-directory rule (the lock,
//! the record, verified checkpoints, `--resume`) holds for each trial. This module is the sweep's IO: the flags
//! ([`spec`]), the trials and their manifest ([`plan`]), the two executors ([`local`]: worker processes on this
//! machine; [`slurm`]: one job array on a Slurm cluster) and the table read back from the trials' reports
//! ([`table`]). `api::sweep` puts them together.

pub mod local;
pub mod plan;
pub mod slurm;
pub mod spec;
pub mod table;

use std::path::{Path, PathBuf};

pub use plan::{ImportedFile, Manifest, SweepSpec, Trial};

/// The manifest's file name in a sweep directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The sweep directory's lock: one sweep process at a time follows a directory.
pub const LOCK_FILE: &str = "sweep.lock";

/// How a trial's `fusec run` is started.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The `fusec` binary the trials run.
    pub fusec: PathBuf,
    /// Compute threads of one trial (`--threads`).
    pub threads: usize,
    /// `--device` of every trial.
    pub device: String,
}

/// Where a trial stands on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialState {
    /// `report.json` is written: nothing to do.
    Finished,
    /// Its run directory holds a run that did not finish: it is resumed from its last checkpoint.
    Interrupted,
    /// Never started.
    New,
}

impl TrialState {
    pub fn of(run_dir: &Path) -> TrialState {
        if run_dir.join("report.json").exists() {
            TrialState::Finished
        } else if crate::run::run_dir::holds_a_run(run_dir) {
            TrialState::Interrupted
        } else {
            TrialState::New
        }
    }
}

/// The run directory of a trial.
pub fn trial_dir(sweep_dir: &Path, trial: &Trial) -> PathBuf {
    sweep_dir.join("trials").join(&trial.id)
}

/// The arguments of a trial's `fusec run` (not `--quiet`: its log gets the data report, one line per epoch and
/// the final report; progress bars are not drawn into a file). It is always started with `--resume`: a directory without a recorded
/// run starts from FILE with the trial's settings, an interrupted one continues from its last checkpoint (FILE
/// and the settings must then be the recorded ones, which `fusec run` checks).
pub fn trial_args(
    manifest: &Manifest,
    trial: &Trial,
    sweep_dir: &Path,
    launch: &Launch,
) -> Vec<String> {
    let mut args = vec![
        "--threads".to_string(),
        launch.threads.to_string(),
        "run".into(),
        manifest.files[trial.file].path.clone(),
    ];
    for (k, v) in &trial.overrides {
        args.push("--set".into());
        args.push(format!("{k}={v}"));
    }
    args.extend([
        "--seed".into(),
        trial.seed.to_string(),
        "--resume".into(),
        trial_dir(sweep_dir, trial).display().to_string(),
        "--device".into(),
        launch.device.clone(),
    ]);
    args
}

/// A trial that ended without a report.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialFailure {
    pub index: usize,
    /// What the executor knows: an exit code, or the scheduler's state (FAILED, PREEMPTED, TIMEOUT, ...).
    pub reason: String,
    /// Its log file.
    pub log: PathBuf,
}

/// The message of the last diagnostic in a trial's log (the `×` line and its continuation lines), if any.
pub fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with('×'))?;
    let mut message = lines[start]
        .trim_start()
        .trim_start_matches('×')
        .trim()
        .to_string();
    for l in &lines[start + 1..] {
        let Some(rest) = l.trim_start().strip_prefix('│') else {
            break;
        };
        message.push(' ');
        message.push_str(rest.trim());
    }
    Some(message)
}
