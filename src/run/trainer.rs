//! The training loop: seeded shuffled mini-batches, one optimizer step per plan step and batch, validation each
//! epoch, model selection, early stopping, checkpoints (best and last) after every epoch, resume, and the final
//! test evaluation of the selected model.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::checkpoint::{Checkpoint, TrainState};
use super::evaluate::{batch_inputs, evaluate_resident, resident_inputs, upload_inputs};
use super::gradflow::{gradient_flow, GradProblem};
use super::objective::Objectives;
use super::report::{write_history, EpochRow, RunReport, SHOWN_TRANSLATIONS};
use super::run_dir::{self, RecordedSource, RunLock, RunRecord};
use super::setup::{build_optimizers, initial_state, STREAM_INIT};
use super::step_plan::{train_batch, BatchOutcome, CompiledPlan};
use super::RunError;
use crate::backend::Network;
use crate::check::Shapes;
use crate::data::{batches, Dataset, ResidentData};
use crate::ir::{Model, Op, TrainPlan};
use crate::rng::SeededRng;
use crate::train::Optimizer;
use candle_core::Tensor;
use std::collections::HashMap;

pub struct RunOptions {
    pub run_dir: PathBuf,
    /// Continue from `run_dir`'s last checkpoint (from the start when the run never finished an epoch).
    pub resume: bool,
    /// A fresh run may replace a run directory that holds another run (otherwise that is refused).
    pub overwrite: bool,
    pub device: Device,
    pub progress: bool,
    /// Stop after this many epochs of this invocation, as if killed (tests of resume use it).
    pub stop_after: Option<usize>,
    /// The resolved configuration (`file`, `overrides`, `cwd`, `model`, `train`, `data`), recorded in
    /// `config.json`.
    pub config: serde_json::Value,
    /// The user source files the program was compiled from, recorded in `sources.json`.
    pub sources: Vec<RecordedSource>,
}

/// What a finished (or deliberately interrupted) run leaves.
pub struct RunOutcome {
    /// `None` when `stop_after` interrupted the run.
    pub report: Option<RunReport>,
    pub grad_problems: Vec<GradProblem>,
    pub net: Network,
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

/// A run in progress: the network, its optimizers, the state that checkpoints save, and the generators.
struct Session<'a> {
    /// The run directory's lock, held until the session ends.
    _lock: RunLock,
    net: Network,
    plan: &'a TrainPlan,
    data: &'a Dataset,
    /// The model inputs on the training device, uploaded once; every batch is gathered there.
    resident: ResidentData,
    opts: &'a RunOptions,
    objectives: Objectives,
    /// The plan's steps compiled against the network (what each runs forward and differentiates).
    compiled: CompiledPlan,
    optimizers: Vec<(String, Optimizer)>,
    state: TrainState,
    rng_shuffle: SeededRng,
    rng_train: SeededRng,
    /// Batch norm cannot train on one example: drop a trailing batch of one.
    drop_single: bool,
}

pub fn train(
    model: &Model,
    shapes: &Shapes,
    plan: &TrainPlan,
    data: &Dataset,
    opts: &RunOptions,
    log: &mut dyn FnMut(&str),
) -> Result<RunOutcome, RunError> {
    let (mut session, grad_problems) = Session::start(model, shapes, plan, data, opts, log)?;
    let mut epochs_this_call = 0;
    let mut stopped_early = session.patience_spent();
    while session.state.epoch < plan.epochs && !stopped_early {
        session.run_epoch(log)?;
        stopped_early = session.patience_spent();
        epochs_this_call += 1;
        let interrupted = opts.stop_after == Some(epochs_this_call);
        if interrupted && session.state.epoch < plan.epochs && !stopped_early {
            return Ok(RunOutcome {
                report: None,
                grad_problems,
                net: session.net,
            });
        }
    }
    let report = finish(
        &session.net,
        plan,
        data,
        &session.resident,
        &session.objectives,
        &session.state,
        stopped_early,
        &opts.run_dir,
    )?;
    Ok(RunOutcome {
        report: Some(report),
        grad_problems,
        net: session.net,
    })
}

impl<'a> Session<'a> {
    /// Locks the run directory, builds the network and optimizers, then either resumes from the last checkpoint
    /// or starts fresh: the directory claimed, everything evaluation and resuming need recorded before the
    /// first epoch, and the gradient-flow check run on a first batch. A resumed run that never finished an
    /// epoch starts again from the beginning (same seed, same numbers); one whose record was never completed
    /// starts over as a fresh run.
    fn start(
        model: &Model,
        shapes: &Shapes,
        plan: &'a TrainPlan,
        data: &'a Dataset,
        opts: &'a RunOptions,
        log: &mut dyn FnMut(&str),
    ) -> Result<(Session<'a>, Vec<GradProblem>), RunError> {
        let lock = RunLock::acquire(&opts.run_dir)?;
        let recorded = opts.run_dir.join(run_dir::CONFIG_FILE).exists();
        let resuming = opts.resume && recorded;
        if !resuming {
            run_dir::claim(&opts.run_dir, opts.overwrite || opts.resume)?;
        }
        let mut net = Network::build(
            model,
            shapes,
            &opts.device,
            &mut SeededRng::stream(plan.seed, STREAM_INIT),
        )?;
        net.set_precision(plan.precision);
        let resident = upload_inputs(&net, data)?;
        let objectives = Objectives::resolve(plan, model).map_err(RunError::Config)?;
        let mut optimizers = build_optimizers(plan, &net, &objectives, log)?;
        super::translation::check_vocab_sizes(&net, data)?;
        if !resuming {
            record_setup(opts, data)?;
        }
        let last = if resuming {
            Checkpoint::find(&opts.run_dir, "last")
        } else {
            None
        };
        let state = match last {
            Some(dir) => {
                let st = Checkpoint::load(&dir, &net, Some(&mut optimizers.list))?;
                log(&format!(
                    "resuming {} after epoch {}",
                    opts.run_dir.display(),
                    st.epoch
                ));
                // A kill between the checkpoint and the history files leaves them one epoch behind.
                write_history(&opts.run_dir, &st.history)?;
                st
            }
            None => {
                if resuming {
                    log(&format!(
                        "{} finished no epoch; starting it again from the beginning",
                        opts.run_dir.display()
                    ));
                }
                initial_state(plan, &optimizers.list)
            }
        };
        let rng_train = SeededRng::restore(plan.seed, &state.rng_train);
        let grad_problems = if state.epoch > 0 {
            Vec::new()
        } else {
            let probe: Vec<usize> = data
                .train
                .iter()
                .copied()
                .take(plan.batch_size.max(2))
                .collect();
            let inputs = batch_inputs(&net, data, &probe)?;
            gradient_flow(
                &net,
                &objectives,
                &optimizers.assignment,
                &inputs,
                &rng_train,
            )?
        };
        let compiled = CompiledPlan::new(&net, &objectives, &optimizers.assignment);
        let session = Session {
            _lock: lock,
            compiled,
            rng_shuffle: SeededRng::restore(plan.seed, &state.rng_shuffle),
            rng_train,
            drop_single: has_batch_norm(model),
            net,
            plan,
            data,
            resident,
            opts,
            objectives,
            optimizers: optimizers.list,
            state,
        };
        Ok((session, grad_problems))
    }

    fn patience_spent(&self) -> bool {
        self.plan
            .patience
            .map(|p| self.state.bad_epochs >= p)
            .unwrap_or(false)
    }

    fn select_key(&self) -> String {
        format!("{}.{}", self.plan.select.split, self.plan.select.metric)
    }

    /// One epoch: learning rates, the batches, validation, selection and checkpoints.
    fn run_epoch(&mut self, log: &mut dyn FnMut(&str)) -> Result<(), RunError> {
        let epoch = self.state.epoch + 1;
        let started = Instant::now();
        let last_select = self
            .state
            .history
            .last()
            .and_then(|r| r.get(&self.select_key()));
        for ((_, opt), sched) in self
            .optimizers
            .iter_mut()
            .zip(self.state.schedulers.iter_mut())
        {
            opt.set_lr(sched.lr_for_epoch(epoch, last_select));
        }
        let (step_sums, seen) = self.train_batches(epoch, started)?;
        let seconds = started.elapsed().as_secs_f64();
        self.state.train_seconds += seconds;
        let (values, current) = self.validate(&step_sums, seen)?;
        self.state.history.push(EpochRow { epoch, values });
        self.state.epoch = epoch;
        self.state.rng_shuffle = self.rng_shuffle.state();
        self.state.rng_train = self.rng_train.state();
        let improved = self.select(current)?;
        Checkpoint::save(
            &self.opts.run_dir,
            "last",
            &self.net,
            &self.optimizers,
            &self.state,
        )?;
        write_history(&self.opts.run_dir, &self.state.history)?;
        let mark = if improved { "  *" } else { "" };
        // Translation speed is counted in tokens (source and target, padding excluded), as `fusec bench --mmt`.
        let speed = match self.plan.task.kind {
            crate::ir::TaskKind::Translation => format!(
                "  {:.0} tokens/s",
                self.data.text_tokens(&self.data.train) as f64 / seconds.max(1e-9)
            ),
            _ => String::new(),
        };
        log(&format!(
            "epoch {epoch:>3}  {} {current:.4}{mark}{speed}",
            self.select_key()
        ));
        Ok(())
    }

    /// The shuffled training batches of one epoch; returns each step's summed loss and the examples seen.
    fn train_batches(
        &mut self,
        epoch: usize,
        started: Instant,
    ) -> Result<(Vec<f64>, usize), RunError> {
        let plan = self.plan;
        let train_batches = batches(
            &self.data.train,
            plan.batch_size,
            Some(&mut self.rng_shuffle),
            self.drop_single,
        );
        let bar = progress_bar(self.opts.progress, train_batches.len(), epoch, plan.epochs);
        let mut step_sums = vec![0.0f64; self.objectives.steps.len()];
        let mut seen = 0usize;
        let translation = plan.task.kind == crate::ir::TaskKind::Translation;
        let mut tokens = 0usize;
        // The epoch's order goes to the device once; each batch is a slice of it.
        let order = self.resident.upload_order(train_batches.concat())?;
        for (bi, idx) in train_batches.iter().enumerate() {
            let inputs =
                resident_inputs(&self.net, &self.resident, &order.batch(seen, idx.len())?)?;
            let values = self.train_batch(&inputs, epoch, bi + 1)?;
            for (sum, value) in step_sums.iter_mut().zip(values) {
                *sum += value * idx.len() as f64;
            }
            self.state.global_step += 1;
            seen += idx.len();
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let loss = step_sums.last().copied().unwrap_or(0.0) / seen.max(1) as f64;
            if translation {
                tokens += self.data.text_tokens(idx);
                bar.set_message(format!(
                    "loss {loss:.4}  {:.0} tokens/s",
                    tokens as f64 / secs
                ));
            } else {
                bar.set_message(format!("loss {loss:.4}  {:.0} ex/s", seen as f64 / secs));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok((step_sums, seen))
    }

    /// One batch through every plan step (`step_plan::train_batch`); returns each step's objective value.
    fn train_batch(
        &mut self,
        inputs: &HashMap<String, Tensor>,
        epoch: usize,
        batch: usize,
    ) -> Result<Vec<f64>, RunError> {
        let outcome = train_batch(
            &self.net,
            &self.compiled,
            &mut self.optimizers,
            self.plan.clip_norm,
            inputs,
            &mut self.rng_train,
            &mut self.state.optimizer_steps,
        )?;
        match outcome {
            BatchOutcome::Done(values) => Ok(values),
            BatchOutcome::NonFinite { step, terms } => Err(RunError::NonFinite {
                step,
                epoch,
                batch,
                terms,
            }),
        }
    }

    /// The epoch's row (learning rate, training losses, validation metrics) and the selection metric's value.
    fn validate(
        &self,
        step_sums: &[f64],
        seen: usize,
    ) -> Result<(Vec<(String, f64)>, f64), RunError> {
        let valid = evaluate_resident(
            &self.net,
            self.data,
            &self.resident,
            &self.data.valid,
            self.plan,
            &self.objectives,
        )?;
        let mut values: Vec<(String, f64)> = Vec::new();
        if let Some((_, opt)) = self.optimizers.first() {
            values.push(("lr".into(), opt.lr()));
        }
        let single = self.objectives.steps.len() == 1;
        for (obj, sum) in self.objectives.steps.iter().zip(step_sums) {
            let key = if single {
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
        let select_key = self.select_key();
        let current = values
            .iter()
            .find(|(k, _)| *k == select_key)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let have: Vec<&str> = valid.metrics.iter().map(|(k, _)| k.as_str()).collect();
                RunError::Config(format!(
                    "select = {select_key}: `{}` is not measured; measured: {}",
                    self.plan.select.metric,
                    have.join(", ")
                ))
            })?;
        Ok((values, current))
    }

    /// Model selection: saves the best checkpoint when the selection metric improved.
    fn select(&mut self, current: f64) -> Result<bool, RunError> {
        let improved = match self.state.best_value {
            None => current.is_finite(),
            Some(best) if self.plan.select.maximize => current > best,
            Some(best) => current < best,
        };
        if improved {
            self.state.best_value = Some(current);
            self.state.best_epoch = Some(self.state.epoch);
            self.state.bad_epochs = 0;
            Checkpoint::save(
                &self.opts.run_dir,
                "best",
                &self.net,
                &self.optimizers,
                &self.state,
            )?;
        } else {
            self.state.bad_epochs += 1;
        }
        Ok(improved)
    }
}

/// Records everything evaluation, prediction, translation and resuming need, before the first epoch: the
/// vocabularies, the standardization, the sources and the configuration (`config.json` last).
fn record_setup(opts: &RunOptions, data: &Dataset) -> Result<(), RunError> {
    super::translation::save_vocabs(data, &opts.run_dir)?;
    super::save_standardization(data, &opts.run_dir)?;
    let text = |key: &str| opts.config[key].as_str().unwrap_or_default().to_string();
    let file = text("file");
    let root = crate::lower::modules::normalize(&file);
    let root_text = opts
        .sources
        .iter()
        .find(|s| s.path == root)
        .map(|s| s.text.as_str())
        .unwrap_or_default();
    let record = RunRecord {
        file_sha256: super::manifest::sha256_hex(root_text.as_bytes()),
        file,
        root,
        cwd: text("cwd"),
        overrides: opts.config["overrides"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        standardized: data.standardization.keys().cloned().collect(),
        vocabularies: data.texts.keys().cloned().collect(),
        label_names: data.label_names.clone(),
        class_names: data.class_names.clone(),
        resolved: opts.config.clone(),
    };
    run_dir::write_record(&opts.run_dir, &record, &opts.sources)
}

/// Restores the selected checkpoint and evaluates it on valid and test.
#[allow(clippy::too_many_arguments)]
fn finish(
    net: &Network,
    plan: &TrainPlan,
    data: &Dataset,
    resident: &ResidentData,
    objectives: &Objectives,
    state: &TrainState,
    stopped_early: bool,
    run_dir: &std::path::Path,
) -> Result<RunReport, RunError> {
    if let Some(dir) = Checkpoint::find(run_dir, "best") {
        Checkpoint::load(&dir, net, None)?;
    }
    let valid = evaluate_resident(net, data, resident, &data.valid, plan, objectives)?;
    let mut test = evaluate_resident(net, data, resident, &data.test, plan, objectives)?;
    let mut translations = Vec::new();
    if plan.task.kind == crate::ir::TaskKind::Translation {
        let (extra, pairs) = super::translation::test_translations(net, data, plan, run_dir)?;
        test.metrics.extend(extra);
        translations = pairs;
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
        class_names: data.class_names.get(&plan.task.target).cloned(),
        valid: valid.metrics,
        test: test.metrics,
        train_tokens_per_second: (plan.task.kind == crate::ir::TaskKind::Translation).then(|| {
            (data.text_tokens(&data.train) * state.epoch) as f64 / state.train_seconds.max(1e-9)
        }),
        n_test_translations: translations.len(),
        test_translations: translations.into_iter().take(SHOWN_TRANSLATIONS).collect(),
        run_dir: run_dir.display().to_string(),
    };
    report.write(run_dir)?;
    Ok(report)
}
