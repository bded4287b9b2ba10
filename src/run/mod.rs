//! A training session: the loop that takes a checked program, its training plan and a loaded data set, and
//! trains, selects, evaluates, checkpoints and resumes. This stage (with `data` and the CLI) is the only one that
//! touches files: the run directory, checkpoints and reports.

mod checkpoint;
mod evaluate;
mod gradflow;
mod inputs;
pub mod kfold_report;
pub mod manifest;
mod objective;
mod report;
pub mod robustness;
pub mod run_dir;
mod setup;
mod standardization;
pub mod step_plan;
mod tensor_files;
mod trainer;
mod translate_lines;
pub mod translation;

pub use checkpoint::{Checkpoint, TrainState};
pub use evaluate::{
    batch_inputs, evaluate, evaluate_resident, resident_inputs, upload_inputs, Evaluation,
};
pub use gradflow::{gradient_flow, GradIssue, GradProblem};
pub use inputs::check_inputs;
pub use kfold_report::{FoldOutcome, KFoldReport};
pub use objective::Objectives;
pub use report::{EpochRow, RunReport};
pub use robustness::{robustness, robustness_cases, RobustnessRow, RobustnessTable, DEFAULT_NOISE};
pub use run_dir::{read_record, RecordedSource, RunRecord, CONFIG_FILE};
pub use setup::{assign_params, plan_optimizers};
pub use standardization::{load_standardization, save_standardization};
pub use tensor_files::{load_params, save_params, save_tensors};
pub use trainer::{train, RunOptions, RunOutcome};
pub use translate_lines::translate_lines;

use std::fmt;

/// Why a run stopped without a result.
#[derive(Debug)]
pub enum RunError {
    /// A loss became NaN or infinite: which step, epoch, batch, and the value of every term.
    NonFinite {
        step: String,
        epoch: usize,
        batch: usize,
        terms: Vec<(String, f64)>,
    },
    /// The plan or data does not fit the model (found at run time, reported as diagnostics by the caller).
    Config(String),
    /// Reading or writing the run directory failed.
    Io(String),
    /// A candle error: a bug in fusec, or out of memory.
    Candle(candle_core::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NonFinite {
                step,
                epoch,
                batch,
                terms,
            } => {
                write!(
                    f,
                    "the loss of step `{step}` is not finite at epoch {epoch}, batch {batch}:"
                )?;
                for (name, v) in terms {
                    write!(f, " {name} = {v}")?;
                }
                write!(f, "; lower the learning rate, enable clip_norm, or check the inputs for extreme values")
            }
            RunError::Config(m) => f.write_str(m),
            RunError::Io(m) => write!(f, "run directory: {m}"),
            RunError::Candle(e) => write!(f, "internal error in the back end: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<candle_core::Error> for RunError {
    fn from(e: candle_core::Error) -> RunError {
        RunError::Candle(e)
    }
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> RunError {
        RunError::Io(e.to_string())
    }
}

/// Writes a file atomically: a temporary sibling, then a rename over the target.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), RunError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| RunError::Io(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| RunError::Io(format!("{}: {e}", path.display())))
}
