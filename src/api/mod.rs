//! The library API: what every command does, as functions that take a request and return data. The CLI
//! (`src/cli/`) only parses arguments, calls these and renders what comes back; tests and other programs call
//! them directly.
//!
//! - [`compile_file`], [`pick_model`]: the front end over files (`check`, `graph`, `summary`);
//! - [`render_mode_graph`], [`summary_text`]: a mode's graph and the summary with every mode's FLOPs
//!   (`graph --mode`, `summary`);
//! - [`run()`], [`resume`], [`grad_check`]: training by a file's plan (`run`, `check --grad`);
//! - [`run_folds`], [`resume_folds`]: every fold of a `kfold(...)` split as its own run (`run`);
//! - [`eval()`], [`eval_robustness`]: a trained run on a split (`eval`);
//! - [`predict()`]: a trained run on new inputs (`predict`);
//! - [`export_onnx`]: a trained run's prediction graph as ONNX bytes (`export`);
//! - [`compare()`]: several files over several seeds (`compare`);
//! - [`plot()`], [`figures`]: learning curves, confusion matrix, robustness heat map and comparison bars of
//!   run directories (`plot`, `run --plots`, `compare --plots`);
//! - [`sweep()`]: files × settings × seeds as separate runs, locally or on Slurm (`sweep`);
//! - [`translate()`]: new sentences through a translation run (`translate`);
//! - [`format_file`]: a file in the canonical layout (`fmt`);
//! - [`inspect_data`]: the structure of a data file (`data inspect`).
//!
//! Failures are an [`Error`]: diagnostics for the user's mistakes, or the [`RunError`] that stopped a run.
//! Warnings and progress lines go to a [`Reporter`] as they happen, so a long run shows them before it ends.

mod budget;
mod compare;
mod compare_folds;
mod eval;
mod export;
mod fmt;
mod fs_loader;
mod kfold;
mod modes;
mod plot;
mod plot_read;
mod predict;
mod prepare;
mod run;
mod sweep;
mod translate;

pub use budget::check_memory;
pub use compare::{
    compare, decide, decisions, higher_is_better, mean_std, CompareRequest, CompareRow, Comparison,
    Verdict,
};
pub use compare_folds::decide_paired;
pub use eval::{eval, eval_robustness, EvalRequest, Robustness};
pub use export::{export_format, export_onnx, ExportRequest, EXPORT_FORMATS};
pub use fmt::{format_file, Formatted};
pub use fs_loader::{allow_imports_from, FsLoader};
pub use kfold::{
    fold_dir, is_kfold_dir, kfold_plan, resume_folds, run_folds, KFoldRecord, KFoldResult,
    KFOLD_FILE,
};
pub use modes::{graph_of_mode, parse_mode, render_mode_graph, summary_text};
pub use plot::{figures, plot, FigureKind, NamedFigure, PlotRequest};
pub use predict::{predict, write_predictions, PredictRequest, Predictions};
pub use prepare::{device, prepare, prepare_recorded, task_fits_data, Prepared};
pub use run::{
    grad_check, grad_warnings, resume, run, GradCheck, ResumeRequest, RunRequest, RunResult,
};
pub use sweep::{plan_sweep, sweep, Executor, SweepRequest, SweepResult};
pub use translate::{translate, TranslateRequest};

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::front::{compile, Compiled};
use crate::ir::{Model, Program};
use crate::run::RunError;
use crate::source::SourceMap;

/// Why a command did not produce its result.
#[derive(Debug)]
pub enum Error {
    /// The user's mistakes (in a .fuse file, a flag, a data file), with the sources their labels point into.
    User {
        diagnostics: Diagnostics,
        sources: SourceMap,
    },
    /// A run or a checkpoint failed (diverged, a bad run directory, an internal error).
    Run(RunError),
}

impl Error {
    /// One diagnostic that points nowhere (a flag or a file name).
    pub fn user(d: Diagnostic) -> Error {
        Error::User {
            diagnostics: d.into(),
            sources: SourceMap::default(),
        }
    }

    /// The process exit code: 2 for an internal error (a bug), 1 for everything the user can fix.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Run(RunError::Candle(_)) => 2,
            _ => 1,
        }
    }

    /// The diagnostics to render and the sources they point into.
    pub fn diagnostics(&self) -> (Diagnostics, SourceMap) {
        match self {
            Error::User {
                diagnostics,
                sources,
            } => (diagnostics.clone(), sources.clone()),
            Error::Run(e) => (run_diagnostic(e).into(), SourceMap::default()),
        }
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Error {
        Error::Run(e)
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Error {
        Error::Run(RunError::Candle(e))
    }
}

/// A run error as a diagnostic: its code says what kind of failure it was.
pub fn run_diagnostic(e: &RunError) -> Diagnostic {
    let code = match e {
        RunError::NonFinite { .. } => "fusec::run::non_finite",
        RunError::Config(_) => "fusec::run::config",
        RunError::Io(_) => "fusec::run::io",
        RunError::Candle(_) => "fusec::internal",
    };
    Diagnostic::error(code, e.to_string())
}

/// Where the API reports what happens while a command works: warnings as soon as a stage produces them, and
/// progress lines. The CLI prints them; [`Silent`] drops them.
pub trait Reporter {
    /// Non-fatal diagnostics (warnings) and the sources they point into.
    fn diagnostics(&mut self, diags: &Diagnostics, sources: &SourceMap);
    /// One line of progress (the data report, an epoch, "training X with seed N").
    fn log(&mut self, line: &str);
}

/// A [`Reporter`] that drops everything.
pub struct Silent;

impl Reporter for Silent {
    fn diagnostics(&mut self, _: &Diagnostics, _: &SourceMap) {}
    fn log(&mut self, _: &str) {}
}

/// Compiles a file from disk with `--set` overrides (and the pass pipeline with `optimize`); warnings go to the
/// reporter.
pub fn compile_file(
    path: &str,
    overrides: &[(String, String)],
    optimize: bool,
    rep: &mut dyn Reporter,
) -> Result<Compiled, Error> {
    match compile(&FsLoader, path, overrides, optimize) {
        Ok(c) => {
            rep.diagnostics(&c.warnings, &c.program.sources);
            Ok(c)
        }
        Err(f) => Err(Error::User {
            diagnostics: f.diagnostics,
            sources: f.sources,
        }),
    }
}

/// The index of the model a command works on: `name`, else the train plan's model, else the first one.
pub fn pick_model(program: &Program, name: Option<&str>) -> Result<usize, Error> {
    let wanted = name
        .map(str::to_string)
        .or_else(|| program.train.as_ref().map(|t| t.model.clone()));
    let found = match &wanted {
        Some(n) => program.models.iter().position(|m| &m.name == n),
        None => (!program.models.is_empty()).then_some(0),
    };
    if let Some(i) = found {
        return Ok(i);
    }
    let names: Vec<&str> = program.models.iter().map(|m| m.name.as_str()).collect();
    let mut d = match &wanted {
        Some(n) => Diagnostic::error(
            "fusec::name::model",
            format!("there is no model `{n}` in this file"),
        ),
        None => Diagnostic::error("fusec::name::model", "this file declares no model"),
    };
    d = match wanted
        .as_deref()
        .and_then(|n| did_you_mean(n, names.iter().copied()))
    {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if names.is_empty() => d.help("declare one with `model Name { ... }`"),
        None => d.help(format!("the models are: {}", names.join(", "))),
    };
    Err(Error::User {
        diagnostics: d.into(),
        sources: program.sources.clone(),
    })
}

/// `fusec data inspect`: the structure of a data file as text.
pub fn inspect_data(file: &std::path::Path) -> Result<String, Error> {
    crate::data::inspect::inspect_file(file).map_err(|diagnostics| Error::User {
        diagnostics,
        sources: SourceMap::default(),
    })
}

/// The model of a compiled program by index (for callers of [`pick_model`]).
pub fn model_at(c: &Compiled, index: usize) -> Option<(&Model, &crate::check::Shapes)> {
    Some((c.program.models.get(index)?, c.shapes.get(index)?))
}
