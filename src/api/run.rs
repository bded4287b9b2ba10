//! Training by a file's plan: a fresh run ([`run`]), a continued one ([`resume`]), and the gradient-flow check
//! alone ([`grad_check`], `fusec check --grad`).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::prepare::{matches_recorded_root, prepare, prepare_recorded, Prepared};
use super::{Error, Reporter};
use crate::backend::Network;
use crate::diag::{Diagnostic, Diagnostics};
use crate::run::run_dir;
use crate::run::{
    read_record, train, GradIssue, GradProblem, RecordedSource, RunError, RunOptions, RunRecord,
    RunReport,
};
use crate::source::SourceMap;

/// What to train and where.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The .fuse file with a `train { }` plan.
    pub file: PathBuf,
    /// `--set` overrides (`epochs`, `seed` and every other key).
    pub overrides: Vec<(String, String)>,
    /// The run directory; a new `runs/<model>-<unix time>[-N]` when absent.
    pub run_dir: Option<PathBuf>,
    /// Replace a run directory that already holds a run (otherwise that is refused).
    pub overwrite: bool,
    pub device: Device,
    /// Progress bars on stderr.
    pub progress: bool,
    /// Stop after this many epochs as if killed (tests of resume use it).
    pub stop_after: Option<usize>,
}

/// Which run to continue. A resumed run is the run it continues: it is compiled from the sources and with the
/// overrides its directory recorded, so nothing given here may change it.
#[derive(Clone, Debug)]
pub struct ResumeRequest {
    pub run_dir: PathBuf,
    /// The file the run was trained from, if given: its text must equal the recorded one. A run stopped before
    /// its record was written (in its first seconds) needs it, to start again.
    pub file: Option<PathBuf>,
    /// Overrides given again: each must have its recorded value.
    pub overrides: Vec<(String, String)>,
    pub device: Device,
    pub progress: bool,
    pub stop_after: Option<usize>,
}

/// What a finished (or deliberately interrupted) run leaves.
pub struct RunResult {
    pub run_dir: PathBuf,
    /// `None` when `stop_after` interrupted the run.
    pub report: Option<RunReport>,
    /// Warnings of the gradient-flow check (also given to the reporter).
    pub grad_warnings: Diagnostics,
    /// The trained network (the last epoch's weights).
    pub net: Network,
    /// The sources of the compiled program, for rendering diagnostics about it.
    pub sources: SourceMap,
}

/// Trains `req.file` by its plan into a new run directory. Data report and epoch lines go to `rep.log`.
pub fn run(req: &RunRequest, rep: &mut dyn Reporter) -> Result<RunResult, Error> {
    // Refused before the data is loaded; checked again under the directory's lock when training starts.
    if let Some(dir) = &req.run_dir {
        if !req.overwrite && run_dir::holds_a_run(dir) {
            return Err(run_dir::refuse_existing(dir).into());
        }
    }
    let prepared = prepare(&req.file, &req.overrides, rep)?;
    let dir = match &req.run_dir {
        Some(dir) => dir.clone(),
        None => run_dir::default_dir(&prepared.model().name)?,
    };
    let target = Target {
        run_dir: dir,
        resume: false,
        overwrite: req.overwrite,
        device: req.device.clone(),
        progress: req.progress,
        stop_after: req.stop_after,
    };
    train_prepared(prepared, target, rep)
}

/// Continues the run in `req.run_dir` from its last checkpoint, with its own recorded configuration.
pub fn resume(req: &ResumeRequest, rep: &mut dyn Reporter) -> Result<RunResult, Error> {
    let target = Target {
        run_dir: req.run_dir.clone(),
        resume: true,
        overwrite: false,
        device: req.device.clone(),
        progress: req.progress,
        stop_after: req.stop_after,
    };
    if !req.run_dir.join(run_dir::CONFIG_FILE).exists() {
        // The run was stopped before it recorded itself: it starts again, from the file and overrides given.
        let Some(file) = &req.file else {
            return Err(Error::user(
                Diagnostic::error(
                    "fusec::run::resume",
                    format!(
                        "{} holds no recorded run to resume (it was stopped before training started, or is not a                          run directory)",
                        req.run_dir.display()
                    ),
                )
                .help("start it again: `fusec run FILE [--set ...] --resume DIR` runs FILE into it from the beginning"),
            ));
        };
        let prepared = prepare(file, &req.overrides, rep)?;
        return train_prepared(prepared, target, rep);
    }
    let (record, sources) = read_record(&req.run_dir)?;
    check_resume_request(req, &record, &sources)?;
    let prepared = prepare_recorded(&record, &sources, &record.override_pairs(), rep)?;
    train_prepared(prepared, target, rep)
}

/// A resumed run is the recorded one: the file given must have its text, and overrides given must have its
/// values.
fn check_resume_request(
    req: &ResumeRequest,
    record: &RunRecord,
    sources: &[RecordedSource],
) -> Result<(), Error> {
    if let Some(file) = &req.file {
        if !matches_recorded_root(file, record, sources)? {
            return Err(Error::user(
                Diagnostic::error(
                    "fusec::run::resume",
                    format!(
                        "`{}` is not the file the run in {} was trained from: it was edited since",
                        file.display(),
                        req.run_dir.display()
                    ),
                )
                .help(format!(
                    "resume without FILE (`fusec run --resume {}`): the run is compiled from the sources it recorded                      in {}/sources.json",
                    req.run_dir.display(),
                    req.run_dir.display()
                )),
            ));
        }
    }
    let recorded = record.override_pairs();
    let mut changed = Vec::new();
    for (k, v) in &req.overrides {
        let was = recorded
            .iter()
            .rev()
            .find(|(rk, _)| rk == k)
            .map(|(_, rv)| rv);
        if was != Some(v) {
            changed.push(match was {
                Some(w) => format!("`{k}={v}` (the run has `{k}={w}`)"),
                None => format!("`{k}={v}` (the run did not set `{k}`)"),
            });
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::user(
        Diagnostic::error(
            "fusec::run::resume",
            format!(
                "resuming {} with {} would change the run",
                req.run_dir.display(),
                changed.join(", ")
            ),
        )
        .help(format!(
            "a resumed run continues with the settings it was started with ({}); drop the flag, or start a new run \
             with `--out`",
            if record.overrides.is_empty() {
                "none".to_string()
            } else {
                record.overrides.join(", ")
            }
        )),
    ))
}

/// Where and how a prepared program trains.
pub(super) struct Target {
    pub run_dir: PathBuf,
    pub resume: bool,
    pub overwrite: bool,
    pub device: Device,
    pub progress: bool,
    pub stop_after: Option<usize>,
}

pub(super) fn train_prepared(
    prepared: Prepared,
    target: Target,
    rep: &mut dyn Reporter,
) -> Result<RunResult, Error> {
    rep.log(&prepared.data.report.to_string());
    let Prepared {
        compiled,
        model_index,
        plan,
        data,
        config,
    } = prepared;
    let model = &compiled.program.models[model_index];
    let shapes = &compiled.shapes[model_index];
    let opts = RunOptions {
        run_dir: target.run_dir.clone(),
        resume: target.resume,
        overwrite: target.overwrite,
        device: target.device,
        progress: target.progress,
        stop_after: target.stop_after,
        config,
        sources: run_dir::user_sources(&compiled.program.sources),
    };
    let outcome = train(model, shapes, &plan, &data, &opts, &mut |line| {
        rep.log(line)
    })?;
    let sources = compiled.program.sources;
    let grad_warnings = grad_warnings(&outcome.grad_problems, &outcome.net);
    rep.diagnostics(&grad_warnings, &sources);
    Ok(RunResult {
        run_dir: target.run_dir,
        report: outcome.report,
        grad_warnings,
        net: outcome.net,
        sources,
    })
}

/// The gradient-flow check's findings as warnings on the nodes that use each parameter.
pub fn grad_warnings(problems: &[GradProblem], net: &Network) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for p in problems {
        let what = match p.issue {
            GradIssue::NoGradient => "receives no gradient from any step",
            GradIssue::Zero => "receives an all-zero gradient",
            GradIssue::NonFinite => "receives a NaN or infinite gradient",
        };
        let mut d = Diagnostic::warning("fusec::grad::flow", format!("parameter `{}` {what}", p.param))
            .help("check for a stop_gradient or an unused branch before this layer, or whether its optimizer's step uses a loss that depends on it");
        if let Some(node) = p.node {
            let n = net.model.graph.node(node);
            d = d.label(n.span, format!("`{}` is used here", p.param));
            if let Some(site) = n.call_sites.first() {
                d = d.label(*site, "in this block instance");
            }
        }
        diags.push(d);
    }
    diags
}

/// The result of [`grad_check`]: how many trainable parameters there are, and a warning per parameter that
/// gets no usable gradient.
pub struct GradCheck {
    pub n_trainable: usize,
    pub warnings: Diagnostics,
    pub sources: SourceMap,
}

/// `fusec check --grad`: the gradient-flow check of `run`, alone: one training batch forward and backward
/// through every step of the plan.
pub fn grad_check(
    file: &Path,
    overrides: &[(String, String)],
    rep: &mut dyn Reporter,
) -> Result<GradCheck, Error> {
    let Prepared {
        compiled,
        model_index,
        plan,
        data,
        ..
    } = prepare(file, overrides, rep)?;
    let model = &compiled.program.models[model_index];
    let mut rng = crate::rng::SeededRng::stream(plan.seed, 1);
    let net = Network::build(model, &compiled.shapes[model_index], &Device::Cpu, &mut rng)?;
    crate::run::translation::check_vocab_sizes(&net, &data)?;
    let objectives = crate::run::Objectives::resolve(&plan, model).map_err(RunError::Config)?;
    let assigned = crate::run::assign_params(&plan, &net)?;
    let assignment = assigned
        .iter()
        .map(|(n, ps)| (n.clone(), ps.iter().map(|(p, _)| p.clone()).collect()))
        .collect();
    let probe: Vec<usize> = data
        .train
        .iter()
        .copied()
        .take(plan.batch_size.max(2))
        .collect();
    let inputs = crate::run::batch_inputs(&net, &data, &probe)?;
    let problems = crate::run::gradient_flow(
        &net,
        &objectives,
        &assignment,
        &inputs,
        &crate::rng::SeededRng::stream(plan.seed, 3),
    )?;
    Ok(GradCheck {
        n_trainable: net.trainable().len(),
        warnings: grad_warnings(&problems, &net),
        sources: compiled.program.sources,
    })
}
