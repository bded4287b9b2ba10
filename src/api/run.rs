//! Training by a file's plan: a fresh run ([`run`]), a continued one ([`resume`]), and the gradient-flow check
//! alone ([`grad_check`], `fusec check --grad`).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::prepare::{prepare, Prepared};
use super::{Error, Reporter};
use crate::backend::Network;
use crate::diag::{Diagnostic, Diagnostics};
use crate::run::{train, GradIssue, GradProblem, RunError, RunOptions, RunReport};
use crate::source::SourceMap;

/// What to train and where.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The .fuse file with a `train { }` plan.
    pub file: PathBuf,
    /// `--set` overrides (`epochs`, `seed` and every other key).
    pub overrides: Vec<(String, String)>,
    /// The run directory; `runs/<model>-<unix time>` when absent. [`resume`] requires it.
    pub run_dir: Option<PathBuf>,
    pub device: Device,
    /// Progress bars on stderr.
    pub progress: bool,
    /// Stop after this many epochs as if killed (tests of resume use it).
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
    train_run(req, None, rep)
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(
    req: &RunRequest,
    run_dir: &Path,
    rep: &mut dyn Reporter,
) -> Result<RunResult, Error> {
    train_run(req, Some(run_dir), rep)
}

fn train_run(
    req: &RunRequest,
    resume_dir: Option<&Path>,
    rep: &mut dyn Reporter,
) -> Result<RunResult, Error> {
    let prepared = prepare(&req.file, &req.overrides, rep)?;
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
    let run_dir = match resume_dir {
        Some(dir) => dir.to_path_buf(),
        None => req
            .run_dir
            .clone()
            .unwrap_or_else(|| default_run_dir(&model.name)),
    };
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume: resume_dir.is_some(),
        device: req.device.clone(),
        progress: req.progress,
        stop_after: req.stop_after,
        config,
    };
    let outcome = train(model, shapes, &plan, &data, &opts, &mut |line| {
        rep.log(line)
    })?;
    let sources = compiled.program.sources;
    let grad_warnings = grad_warnings(&outcome.grad_problems, &outcome.net);
    rep.diagnostics(&grad_warnings, &sources);
    crate::run::save_standardization(&data, &run_dir)?;
    Ok(RunResult {
        run_dir,
        report: outcome.report,
        grad_warnings,
        net: outcome.net,
        sources,
    })
}

fn default_run_dir(model: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Path::new("runs").join(format!("{model}-{secs}"))
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
