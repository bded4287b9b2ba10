//! k-fold cross-validation runs (`split = kfold(...)`): [`run_folds`] trains every fold as an ordinary run
//! (`--set data.fold=i`) into `RUN/fold-i/`, so `eval`, `predict` and `--resume` work on a fold's directory as
//! on any run, then writes the folds' report into `RUN/`. The k-fold directory is a unit as a run directory is:
//! its own lock, refused when it holds files (unless overwriting), and `kfold.json` marks it, so
//! [`resume_folds`] skips the finished folds and resumes or starts the others.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::prepare::{matches_recorded_root, prepare, prepare_recorded};
use super::run::{resume, run, train_prepared, Target};
use super::{Error, Reporter, ResumeRequest, RunRequest};
use crate::diag::Diagnostic;
use crate::front::compile;
use crate::ir::SplitSpec;
use crate::run::run_dir::{self, RunLock};
use crate::run::{read_record, write_atomic, FoldOutcome, KFoldReport, RunError};

/// The file that marks a k-fold directory, written before the first fold starts.
pub use crate::run::run_dir::KFOLD_FILE;

/// What a k-fold directory records about itself: enough to find and restart its folds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KFoldRecord {
    pub file: String,
    pub overrides: Vec<(String, String)>,
    pub k: usize,
    pub model: String,
    pub selection: String,
}

/// A finished (or deliberately interrupted) k-fold run.
pub struct KFoldResult {
    pub run_dir: PathBuf,
    /// `None` when `stop_after` interrupted a fold.
    pub report: Option<KFoldReport>,
}

/// The k-fold plan of a file: `Some` when its plan's data set is split by `kfold(...)` and no fold is chosen
/// (`--set data.fold=N` makes it an ordinary run of that fold). A file that does not compile is `None`: the
/// ordinary run reports its diagnostics.
pub fn kfold_plan(file: &Path, overrides: &[(String, String)]) -> Option<KFoldRecord> {
    let path = file.to_string_lossy().to_string();
    let compiled = compile(&super::FsLoader, &path, overrides, false).ok()?;
    let plan = compiled.program.train.as_ref()?;
    let spec = compiled.program.data_spec(&plan.data)?;
    match spec.split {
        SplitSpec::KFold { k, fold: None, .. } => Some(KFoldRecord {
            file: path,
            overrides: overrides.to_vec(),
            k,
            model: plan.model.clone(),
            selection: plan.select.metric.clone(),
        }),
        _ => None,
    }
}

/// Whether `dir` is a k-fold directory.
pub fn is_kfold_dir(dir: &Path) -> bool {
    dir.join(KFOLD_FILE).is_file()
}

/// The directory of fold `i` (1-based).
pub fn fold_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("fold-{i}"))
}

/// Trains every fold of `plan` (from [`kfold_plan`]) into its own directory under `req.run_dir` (default
/// `runs/<model>-kfold-<unix time>`).
pub fn run_folds(
    req: &RunRequest,
    plan: &KFoldRecord,
    rep: &mut dyn Reporter,
) -> Result<KFoldResult, Error> {
    let dir = match &req.run_dir {
        Some(dir) => dir.clone(),
        None => run_dir::default_dir(&format!("{}-kfold", plan.model))?,
    };
    let _lock = RunLock::acquire(&dir)?;
    run_dir::claim(&dir, req.overwrite)?;
    let text = serde_json::to_string_pretty(plan).map_err(|e| RunError::Io(e.to_string()))?;
    write_atomic(&dir.join(KFOLD_FILE), text.as_bytes())?;
    let mut folds = Vec::new();
    for i in 1..=plan.k {
        rep.log(&format!("fold {i} of {}", plan.k));
        let fold = RunRequest {
            overrides: with_fold(&req.overrides, i),
            run_dir: Some(fold_dir(&dir, i)),
            overwrite: false,
            ..req.clone()
        };
        if run(&fold, rep)?.report.is_none() {
            return Ok(KFoldResult {
                run_dir: dir,
                report: None,
            });
        }
        folds.push(FoldOutcome::read(&fold_dir(&dir, i), i)?);
    }
    finish(dir, plan, folds)
}

/// Continues the k-fold run in `req.run_dir`: finished folds are read back, interrupted ones resumed from their
/// checkpoints, folds not yet started are started from the sources a fold recorded (or from `req.file`, when
/// no fold got as far as recording itself).
pub fn resume_folds(req: &ResumeRequest, rep: &mut dyn Reporter) -> Result<KFoldResult, Error> {
    let dir = req.run_dir.clone();
    let _lock = RunLock::acquire(&dir)?;
    let path = dir.join(KFOLD_FILE);
    let plan: KFoldRecord = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| RunError::Io(format!("{}: not a readable k-fold record", path.display())))?;
    check_same_overrides(req, &plan)?;
    let mut folds = Vec::new();
    for i in 1..=plan.k {
        let fdir = fold_dir(&dir, i);
        if fdir.join("report.json").is_file() {
            folds.push(FoldOutcome::read(&fdir, i)?);
            continue;
        }
        rep.log(&format!("fold {i} of {}", plan.k));
        let target = Target {
            run_dir: fdir.clone(),
            resume: true,
            overwrite: false,
            device: req.device.clone(),
            progress: req.progress,
            stop_after: req.stop_after,
        };
        let result = if fdir.join(run_dir::CONFIG_FILE).is_file() {
            let fold = ResumeRequest {
                run_dir: fdir.clone(),
                file: None,
                overrides: Vec::new(),
                ..req.clone()
            };
            resume(&fold, rep)?
        } else {
            let prepared = match recorded_sibling(&dir, plan.k) {
                Some((record, sources)) => {
                    if let Some(file) = &req.file {
                        if !matches_recorded_root(file, &record, &sources)? {
                            return Err(edited(file, &dir));
                        }
                    }
                    let overrides = with_fold(&plan.overrides, i);
                    prepare_recorded(&record, &sources, &overrides, rep)?
                }
                None => {
                    let file = req
                        .file
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(&plan.file));
                    prepare(&file, &with_fold(&plan.overrides, i), rep)?
                }
            };
            train_prepared(prepared, target, rep)?
        };
        if result.report.is_none() {
            return Ok(KFoldResult {
                run_dir: dir,
                report: None,
            });
        }
        folds.push(FoldOutcome::read(&fdir, i)?);
    }
    finish(dir, &plan, folds)
}

/// The overrides with `data.fold` set to `i` (replacing any given).
fn with_fold(overrides: &[(String, String)], i: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = overrides
        .iter()
        .filter(|(k, _)| k != "data.fold")
        .cloned()
        .collect();
    out.push(("data.fold".into(), i.to_string()));
    out
}

/// The record and sources of the first fold that recorded itself.
fn recorded_sibling(
    dir: &Path,
    k: usize,
) -> Option<(crate::run::RunRecord, Vec<crate::run::RecordedSource>)> {
    (1..=k).find_map(|i| read_record(&fold_dir(dir, i)).ok())
}

fn finish(dir: PathBuf, plan: &KFoldRecord, folds: Vec<FoldOutcome>) -> Result<KFoldResult, Error> {
    let report = KFoldReport {
        model: plan.model.clone(),
        selection: plan.selection.clone(),
        folds,
        run_dir: dir.display().to_string(),
    };
    report.write(&dir)?;
    Ok(KFoldResult {
        run_dir: dir,
        report: Some(report),
    })
}

/// A resumed k-fold run keeps its settings: overrides given again must have their recorded values.
fn check_same_overrides(req: &ResumeRequest, plan: &KFoldRecord) -> Result<(), Error> {
    let changed: Vec<String> = req
        .overrides
        .iter()
        .filter(|(k, v)| !plan.overrides.iter().any(|(rk, rv)| rk == k && rv == v))
        .map(|(k, v)| format!("`{k}={v}`"))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::user(
        Diagnostic::error(
            "fusec::run::resume",
            format!(
                "resuming the k-fold run in {} with {} would change it",
                req.run_dir.display(),
                changed.join(", ")
            ),
        )
        .help("a resumed k-fold run continues with the settings it was started with; drop the flag, or start a new run with `--out`"),
    ))
}

fn edited(file: &Path, dir: &Path) -> Error {
    Error::user(
        Diagnostic::error(
            "fusec::run::resume",
            format!(
                "`{}` is not the file the k-fold run in {} was trained from: it was edited since",
                file.display(),
                dir.display()
            ),
        )
        .help(
            "resume without FILE: the folds are compiled from the sources the first fold recorded",
        ),
    )
}
