//! Evaluating a trained run's checkpoint on a split of its plan's data ([`eval`]), optionally with each input
//! removed or corrupted ([`eval_robustness`]).

use std::path::PathBuf;

use candle_core::Device;

use super::prepare::{prepare, Prepared};
use super::{Error, Reporter};
use crate::backend::Network;
use crate::diag::{did_you_mean, Diagnostic};
use crate::run::{
    evaluate, robustness, robustness_cases, write_atomic, Checkpoint, Objectives, RobustnessTable,
    RunError,
};

/// Which run, which checkpoint, which split.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    pub overrides: Vec<(String, String)>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// `train`, `valid` or `test`.
    pub split: String,
    /// The last checkpoint instead of the selected one.
    pub last: bool,
    pub device: Device,
}

/// The metrics of the checkpoint on the split, in the plan's order.
pub fn eval(req: &EvalRequest, rep: &mut dyn Reporter) -> Result<Vec<(String, f64)>, Error> {
    let (prepared, indices, net) = restore(req, rep)?;
    let objectives = Objectives::resolve(&prepared.plan, &net.model).map_err(RunError::Config)?;
    Ok(evaluate(&net, &prepared.data, &indices, &prepared.plan, &objectives)?.metrics)
}

/// The robustness table of a run and the CSV it was written to (`RUNDIR/robustness_SPLIT.csv`).
pub struct Robustness {
    pub table: RobustnessTable,
    pub csv: PathBuf,
}

impl Robustness {
    /// The metrics a table shows: `requested`, or by default the task's first two and the loss (which moves even
    /// when the predictions do not). A requested metric that was not measured is an error naming the measured ones.
    pub fn shown_metrics(&self, requested: &[String]) -> Result<Vec<String>, Error> {
        let measured = self.table.metric_names();
        if requested.is_empty() {
            let task = measured.iter().filter(|n| !n.starts_with("loss")).take(2);
            let loss = measured.iter().find(|n| **n == "loss");
            return Ok(task.chain(loss).map(|s| s.to_string()).collect());
        }
        if let Some(bad) = requested.iter().find(|m| !measured.contains(&m.as_str())) {
            let hint = did_you_mean(bad, measured.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::Run(RunError::Config(format!(
                "--metric {bad}: not measured{hint}; measured: {} (every metric is in {})",
                measured.join(", "),
                self.csv.display()
            ))));
        }
        Ok(requested.to_vec())
    }
}

/// Evaluates with every robustness case of the plan (`robustness = [...]`, or every float input zeroed,
/// mean-imputed and noised) and writes the CSV into the run directory.
pub fn eval_robustness(req: &EvalRequest, rep: &mut dyn Reporter) -> Result<Robustness, Error> {
    let (mut prepared, _, net) = restore(req, rep)?;
    let plan = &prepared.plan;
    let objectives = Objectives::resolve(plan, &net.model).map_err(RunError::Config)?;
    let cases = robustness_cases(plan, &net.model);
    let table = robustness(
        &net,
        &mut prepared.data,
        &req.split,
        plan,
        &objectives,
        &cases,
        plan.seed,
    )?;
    let csv = req.run_dir.join(format!("robustness_{}.csv", req.split));
    write_atomic(&csv, table.to_csv().as_bytes())?;
    Ok(Robustness { table, csv })
}

/// Prepares the file, resolves the split and loads the checkpoint's weights.
fn restore(
    req: &EvalRequest,
    rep: &mut dyn Reporter,
) -> Result<(Prepared, Vec<usize>, Network), Error> {
    let prepared = prepare(&req.file, &req.overrides, rep)?;
    let data = &prepared.data;
    let indices = match req.split.as_str() {
        "train" => data.train.clone(),
        "valid" => data.valid.clone(),
        "test" => data.test.clone(),
        other => {
            let help = match did_you_mean(other, ["train", "valid", "test"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use `--split train`, `valid` or `test`".to_string(),
            };
            let d = Diagnostic::error("fusec::cli::split", format!("unknown split `{other}`"))
                .help(help);
            return Err(Error::User {
                diagnostics: d.into(),
                sources: prepared.compiled.program.sources.clone(),
            });
        }
    };
    let net = Checkpoint::restore_network(
        &req.run_dir,
        req.last,
        prepared.model(),
        prepared.shapes(),
        &req.device,
    )?;
    Ok((prepared, indices, net))
}
