//! The training loop: seeded shuffled mini-batches, one optimizer step per plan step and batch, validation each
//! epoch, model selection, early stopping, checkpoints (best and last) after every epoch, resume, and the final
//! test evaluation of the selected model.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Var};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::checkpoint::{Checkpoint, TrainState};
use super::evaluate::{batch_inputs, evaluate};
use super::gradflow::{gradient_flow, GradProblem};
use super::objective::Objectives;
use super::report::{write_history, EpochRow, RunReport};
use super::{write_atomic, RunError};
use crate::backend::{Mode, Network};
use crate::check::Shapes;
use crate::data::{batches, Dataset};
use crate::ir::{Model, Op, TrainPlan};
use crate::rng::SeededRng;
use crate::train::{clip_grad_norm, Optimizer, Scheduler};

/// Generator streams of a run: one seed, independent streams per purpose.
const STREAM_INIT: u64 = 1;
const STREAM_SHUFFLE: u64 = 2;
const STREAM_TRAIN: u64 = 3;

pub struct RunOptions {
    pub run_dir: PathBuf,
    /// Continue from `run_dir`'s last checkpoint.
    pub resume: bool,
    pub device: Device,
    pub progress: bool,
    /// Stop after this many epochs of this invocation, as if killed (tests of resume use it).
    pub stop_after: Option<usize>,
    /// The resolved configuration, written to `config.json`.
    pub config: serde_json::Value,
}

/// What a finished (or deliberately interrupted) run leaves.
pub struct RunOutcome {
    /// `None` when `stop_after` interrupted the run.
    pub report: Option<RunReport>,
    pub grad_problems: Vec<GradProblem>,
    pub net: Network,
}

/// Splits trainable parameters among the plan's optimizers by glob. An optimizer without globs takes every
/// parameter no other optimizer claims; a parameter claimed twice is an error.
pub fn assign_params(
    plan: &TrainPlan,
    net: &Network,
) -> Result<Vec<(String, Vec<(String, Var)>)>, RunError> {
    let trainable = net.trainable();
    let mut owner: HashMap<String, String> = HashMap::new();
    for opt in plan.optimizers.iter().filter(|o| !o.params.is_empty()) {
        let pats: Vec<glob::Pattern> = opt
            .params
            .iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| {
                    RunError::Config(format!("optimizer `{}`: bad pattern `{p}`: {e}", opt.name))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut matched = 0;
        for (name, _) in &trainable {
            if pats.iter().any(|p| p.matches(name)) {
                if let Some(prev) = owner.insert(name.clone(), opt.name.clone()) {
                    return Err(RunError::Config(format!(
                        "parameter `{name}` is claimed by optimizers `{prev}` and `{}`; each parameter may have one optimizer",
                        opt.name
                    )));
                }
                matched += 1;
            }
        }
        if matched == 0 {
            return Err(RunError::Config(format!(
                "optimizer `{}` selects no parameter with {:?}; parameter names look like `{}`",
                opt.name,
                opt.params,
                trainable.first().map(|(n, _)| n.as_str()).unwrap_or("-")
            )));
        }
    }
    let default = plan
        .optimizers
        .iter()
        .find(|o| o.params.is_empty())
        .map(|o| o.name.clone());
    let mut out: Vec<(String, Vec<(String, Var)>)> = plan
        .optimizers
        .iter()
        .map(|o| (o.name.clone(), Vec::new()))
        .collect();
    for (name, var) in trainable {
        let who = owner.get(&name).cloned().or_else(|| default.clone());
        if let Some(who) = who {
            if let Some((_, list)) = out.iter_mut().find(|(n, _)| *n == who) {
                list.push((name, var));
            }
        }
    }
    Ok(out)
}

fn has_batch_norm(model: &Model) -> bool {
    model
        .graph
        .node_ids()
        .any(|n| matches!(model.graph.node(n).op, Op::BatchNorm { .. }))
}

fn progress_bar(show: bool, n: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

pub fn train(
    model: &Model,
    shapes: &Shapes,
    plan: &TrainPlan,
    data: &Dataset,
    opts: &RunOptions,
    log: &mut dyn FnMut(&str),
) -> Result<RunOutcome, RunError> {
    let mut init_rng = SeededRng::stream(plan.seed, STREAM_INIT);
    let net = Network::build(model, shapes, &opts.device, &mut init_rng)?;
    let objectives = Objectives::resolve(plan, model).map_err(RunError::Config)?;
    let assigned = assign_params(plan, &net)?;
    for obj in &objectives.steps {
        if !assigned.iter().any(|(n, _)| *n == obj.optimizer) {
            return Err(RunError::Config(format!(
                "step `{}` uses optimizer `{}`, which is not declared",
                obj.step, obj.optimizer
            )));
        }
    }
    let frozen: Vec<String> = net
        .trainable()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| {
            !assigned
                .iter()
                .any(|(_, ps)| ps.iter().any(|(p, _)| p == n))
        })
        .collect();
    if !frozen.is_empty() {
        log(&format!(
            "warning: {} parameter(s) belong to no optimizer and stay frozen: {}",
            frozen.len(),
            frozen.join(", ")
        ));
    }
    let mut optimizers: Vec<(String, Optimizer)> = Vec::new();
    for (spec, (name, params)) in plan.optimizers.iter().zip(assigned.iter()) {
        optimizers.push((name.clone(), Optimizer::new(&spec.kind, params.clone())?));
    }
    let assignment: HashMap<String, Vec<String>> = assigned
        .iter()
        .map(|(n, ps)| (n.clone(), ps.iter().map(|(p, _)| p.clone()).collect()))
        .collect();

    std::fs::create_dir_all(&opts.run_dir)?;
    super::translation::check_vocab_sizes(&net, data)?;
    super::translation::save_vocabs(data, &opts.run_dir)?;
    let mut state = if opts.resume {
        let dir = Checkpoint::find(&opts.run_dir, "last").ok_or_else(|| {
            RunError::Io(format!(
                "{} has no checkpoint to resume from",
                opts.run_dir.display()
            ))
        })?;
        let st = Checkpoint::load(&dir, &net, Some(&mut optimizers))?;
        log(&format!(
            "resuming {} after epoch {}",
            opts.run_dir.display(),
            st.epoch
        ));
        st
    } else {
        let config =
            serde_json::to_string_pretty(&opts.config).map_err(|e| RunError::Io(e.to_string()))?;
        write_atomic(&opts.run_dir.join("config.json"), config.as_bytes())?;
        TrainState {
            epoch: 0,
            global_step: 0,
            rng_shuffle: SeededRng::stream(plan.seed, STREAM_SHUFFLE).state(),
            rng_train: SeededRng::stream(plan.seed, STREAM_TRAIN).state(),
            schedulers: optimizers
                .iter()
                .map(|(_, o)| {
                    Scheduler::new(&plan.schedule, o.lr(), plan.epochs, plan.select.maximize)
                })
                .collect(),
            optimizer_steps: Default::default(),
            best_epoch: None,
            best_value: None,
            bad_epochs: 0,
            history: Vec::new(),
            train_seconds: 0.0,
        }
    };
    let mut rng_shuffle = SeededRng::restore(plan.seed, &state.rng_shuffle);
    let mut rng_train = SeededRng::restore(plan.seed, &state.rng_train);
    let drop_single = has_batch_norm(model);

    let mut grad_problems = Vec::new();
    if !opts.resume {
        let probe: Vec<usize> = data
            .train
            .iter()
            .copied()
            .take(plan.batch_size.max(2))
            .collect();
        let inputs = batch_inputs(&net, data, &probe)?;
        grad_problems = gradient_flow(&net, &objectives, &assignment, &inputs, &rng_train)?;
    }

    let mut epochs_this_call = 0;
    let mut stopped_early = plan
        .patience
        .map(|p| state.bad_epochs >= p)
        .unwrap_or(false);
    while state.epoch < plan.epochs && !stopped_early {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        let last_select = state
            .history
            .last()
            .and_then(|r| r.get(&format!("{}.{}", plan.select.split, plan.select.metric)));
        for ((_, opt), sched) in optimizers.iter_mut().zip(state.schedulers.iter_mut()) {
            opt.set_lr(sched.lr_for_epoch(epoch, last_select));
        }
        let train_batches = batches(
            &data.train,
            plan.batch_size,
            Some(&mut rng_shuffle),
            drop_single,
        );
        let bar = progress_bar(opts.progress, train_batches.len(), epoch, plan.epochs);
        let mut step_sums = vec![0.0f64; objectives.steps.len()];
        let mut seen = 0usize;
        for (bi, idx) in train_batches.iter().enumerate() {
            let inputs = batch_inputs(&net, data, idx)?;
            for (si, obj) in objectives.steps.iter().enumerate() {
                let out = net.forward(&inputs, &mut Mode::Train(&mut rng_train))?;
                let (loss, parts) = obj.eval(&out)?;
                let value = f64::from(loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?);
                if !value.is_finite() {
                    return Err(RunError::NonFinite {
                        step: obj.step.clone(),
                        epoch,
                        batch: bi + 1,
                        terms: parts,
                    });
                }
                step_sums[si] += value * idx.len() as f64;
                let mut grads = loss.backward()?;
                let Some((_, opt)) = optimizers.iter_mut().find(|(n, _)| *n == obj.optimizer)
                else {
                    continue;
                };
                if let Some(max) = plan.clip_norm {
                    clip_grad_norm(&mut grads, opt.params(), max)?;
                }
                opt.step(&grads)?;
                *state
                    .optimizer_steps
                    .entry(obj.optimizer.clone())
                    .or_default() += 1;
            }
            state.global_step += 1;
            seen += idx.len();
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4}  {:.0} ex/s",
                step_sums.last().copied().unwrap_or(0.0) / seen.max(1) as f64,
                seen as f64 / secs
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        state.train_seconds += started.elapsed().as_secs_f64();

        let valid = evaluate(&net, data, &data.valid, plan, &objectives)?;
        let mut values: Vec<(String, f64)> = Vec::new();
        if let Some((_, opt)) = optimizers.first() {
            values.push(("lr".into(), opt.lr()));
        }
        for (obj, sum) in objectives.steps.iter().zip(&step_sums) {
            let key = if objectives.steps.len() == 1 {
                "train.loss".to_string()
            } else {
                format!("train.loss.{}", obj.step)
            };
            values.push((key, sum / seen.max(1) as f64));
        }
        values.extend(
            valid
                .metrics
                .iter()
                .map(|(k, v)| (format!("valid.{k}"), *v)),
        );
        let select_key = format!("{}.{}", plan.select.split, plan.select.metric);
        let current = values
            .iter()
            .find(|(k, _)| *k == select_key)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let have: Vec<&str> = valid.metrics.iter().map(|(k, _)| k.as_str()).collect();
                RunError::Config(format!(
                    "select = {select_key}: `{}` is not measured; measured: {}",
                    plan.select.metric,
                    have.join(", ")
                ))
            })?;
        state.history.push(EpochRow { epoch, values });
        state.epoch = epoch;
        state.rng_shuffle = rng_shuffle.state();
        state.rng_train = rng_train.state();
        let improved = match state.best_value {
            None => current.is_finite(),
            Some(best) => {
                if plan.select.maximize {
                    current > best
                } else {
                    current < best
                }
            }
        };
        if improved {
            state.best_value = Some(current);
            state.best_epoch = Some(epoch);
            state.bad_epochs = 0;
            Checkpoint::save(&opts.run_dir, "best", &net, &optimizers, &state)?;
        } else {
            state.bad_epochs += 1;
        }
        Checkpoint::save(&opts.run_dir, "last", &net, &optimizers, &state)?;
        write_history(&opts.run_dir, &state.history)?;
        log(&format!(
            "epoch {epoch:>3}  {select_key} {current:.4}{}",
            if improved { "  *" } else { "" }
        ));
        stopped_early = plan
            .patience
            .map(|p| state.bad_epochs >= p)
            .unwrap_or(false);
        epochs_this_call += 1;
        if opts.stop_after == Some(epochs_this_call) && state.epoch < plan.epochs && !stopped_early
        {
            return Ok(RunOutcome {
                report: None,
                grad_problems,
                net,
            });
        }
    }
    let report = finish(
        &net,
        plan,
        data,
        &objectives,
        &state,
        stopped_early,
        &opts.run_dir,
    )?;
    Ok(RunOutcome {
        report: Some(report),
        grad_problems,
        net,
    })
}

/// Restores the selected checkpoint and evaluates it on valid and test.
fn finish(
    net: &Network,
    plan: &TrainPlan,
    data: &Dataset,
    objectives: &Objectives,
    state: &TrainState,
    stopped_early: bool,
    run_dir: &std::path::Path,
) -> Result<RunReport, RunError> {
    if let Some(dir) = Checkpoint::find(run_dir, "best") {
        Checkpoint::load(&dir, net, None)?;
    }
    let valid = evaluate(net, data, &data.valid, plan, objectives)?;
    let mut test = evaluate(net, data, &data.test, plan, objectives)?;
    if plan.task.kind == crate::ir::TaskKind::Translation {
        let beam = super::translation::TEST_BEAM;
        let extra = super::translation::metrics(net, data, &data.test, plan, &[beam])?;
        test.metrics.extend(extra);
    }
    let report = RunReport {
        model: net.model.name.clone(),
        seed: plan.seed,
        epochs_run: state.epoch,
        best_epoch: state.best_epoch.unwrap_or(0),
        stopped_early,
        params: net.n_trainable(),
        train_seconds: state.train_seconds,
        selection: format!("{}.{}", plan.select.split, plan.select.metric),
        confusion: if plan.task.kind == crate::ir::TaskKind::Classification {
            test.confusion()
        } else {
            None
        },
        valid: valid.metrics,
        test: test.metrics,
        run_dir: run_dir.display().to_string(),
    };
    report.write(run_dir)?;
    Ok(report)
}
