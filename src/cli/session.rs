//! What `run`, `eval`, `predict` and `compare` share: compiling a file for training (front end, plan, data
//! checked against the model, data loaded), choosing a device, and printing diagnostics.

use std::path::Path;

use candle_core::Device;

use super::{print_diagnostics, FsLoader};
use crate::backend::Network;
use crate::data::Dataset;
use crate::diag::{Diagnostic, Diagnostics};
use crate::front::{compile, Compiled};
use crate::ir::TrainPlan;
use crate::run::{GradIssue, GradProblem};
use crate::source::SourceMap;

/// A compiled program with everything a training run needs.
pub struct Prepared {
    pub compiled: Compiled,
    pub model_index: usize,
    pub plan: TrainPlan,
    pub data: Dataset,
    /// The resolved configuration for `config.json`.
    pub config: serde_json::Value,
}

/// The device of `--device`, or the exit code after printing a `fusec::cli::device` diagnostic.
pub fn device_or_report(flag: &str, json: bool) -> Result<Device, i32> {
    device_from_flag(flag).map_err(|msg| {
        let d = Diagnostic::error("fusec::cli::device", msg).help("`--device cpu` runs everywhere");
        print_diagnostics(&d.into(), &SourceMap::default(), json);
        1
    })
}

pub fn device_from_flag(flag: &str) -> Result<Device, String> {
    match flag {
        "cpu" => Ok(Device::Cpu),
        f if f == "cuda" || f.starts_with("cuda:") => {
            let ordinal = f
                .strip_prefix("cuda:")
                .map(|n| n.parse::<usize>())
                .transpose()
                .map_err(|_| {
                    format!("`--device {f}`: the GPU index must be a number, as in `cuda:0`")
                })?;
            Device::new_cuda(ordinal.unwrap_or(0)).map_err(|e| {
                format!("`--device {f}`: {e} (CUDA needs a build with `cargo build --release --features cuda` on a machine with the CUDA toolkit)")
            })
        }
        other => Err(format!(
            "unknown device `{other}`; use `cpu`, `cuda` or `cuda:N`"
        )),
    }
}

/// Compiles `file`, finds its plan, model and data set, checks the data against the model and loads it.
/// On failure the diagnostics are printed and the exit code returned.
pub fn compile_for_training(
    file: &Path,
    overrides: &[(String, String)],
    json: bool,
) -> Result<Prepared, i32> {
    let path = file.to_string_lossy().to_string();
    let compiled = match compile(&FsLoader, &path, overrides, true) {
        Ok(c) => c,
        Err(failed) => {
            print_diagnostics(&failed.diagnostics, &failed.sources, json);
            return Err(1);
        }
    };
    print_diagnostics(&compiled.warnings, &compiled.program.sources, json);
    let sources = &compiled.program.sources;
    let Some(plan) = compiled.program.train.clone() else {
        let d = Diagnostic::error("fusec::train::missing", format!("`{path}` has no `train {{ }}` plan"))
            .help("add a `train { model = ...  data = ...  optimizer ... step ... }` block (see docs/LANGUAGE.md)");
        print_diagnostics(&d.into(), sources, json);
        return Err(1);
    };
    let Some(model_index) = compiled
        .program
        .models
        .iter()
        .position(|m| m.name == plan.model)
    else {
        let d = Diagnostic::error(
            "fusec::train::model",
            format!(
                "the plan trains `{}`, which is not a model of this file",
                plan.model
            ),
        )
        .label(plan.span, "this plan");
        print_diagnostics(&d.into(), sources, json);
        return Err(1);
    };
    let Some(spec) = compiled.program.data_spec(&plan.data).cloned() else {
        let d = Diagnostic::error(
            "fusec::train::data",
            format!("the plan reads data `{}`, which is not declared", plan.data),
        )
        .label(plan.span, "this plan");
        print_diagnostics(&d.into(), sources, json);
        return Err(1);
    };
    super::budget::check_memory(&compiled, json)?;
    let model = &compiled.program.models[model_index];
    let problems = crate::data::check_against_model(&spec, model);
    if problems.has_errors() {
        print_diagnostics(&problems, sources, json);
        return Err(1);
    }
    let data = match crate::data::load(&spec, Path::new(".")) {
        Ok(d) => d,
        Err(diags) => {
            print_diagnostics(&diags, sources, json);
            return Err(1);
        }
    };
    let problems = task_fits_data(&plan, model, &compiled.shapes[model_index], &data);
    if problems.has_errors() {
        print_diagnostics(&problems, sources, json);
        return Err(1);
    }
    let config = serde_json::json!({
        "file": path,
        "overrides": overrides.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "model": plan.model,
        "train": plan,
        "data": spec,
    });
    Ok(Prepared {
        compiled,
        model_index,
        plan,
        data,
        config,
    })
}

/// Prints the gradient-flow check's findings as warnings on the nodes that use each parameter.
pub fn report_grad_problems(
    problems: &[GradProblem],
    net: &Network,
    sources: &SourceMap,
    json: bool,
) {
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
    print_diagnostics(&diags, sources, json);
}

/// The labels of a classification task must index the output's classes: a model with 3 logits cannot learn
/// 10 classes. Checked on the loaded values, so it also catches files whose labels exceed a `classes` declaration.
pub fn task_fits_data(
    plan: &TrainPlan,
    model: &crate::ir::Model,
    shapes: &crate::check::Shapes,
    data: &Dataset,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(out) = model.output_value(&plan.task.output) else {
        return diags;
    };
    let Some(width) = shapes
        .ty(out)
        .and_then(|t| t.dims.last())
        .and_then(|d| d.fixed())
    else {
        return diags;
    };
    let classes = match plan.task.kind {
        crate::ir::TaskKind::Classification => width,
        crate::ir::TaskKind::BinaryPerLabel => 2,
        crate::ir::TaskKind::Regression => return diags,
        // Target ids index the decoder's vocabulary: the data's vocabulary must fit the model's `vocab`.
        crate::ir::TaskKind::Translation => {
            let have = data
                .texts
                .get(&plan.task.target)
                .map(|t| t.vocab.len() as i64);
            if let Some(n) = have.filter(|n| *n > width) {
                diags.push(
                    Diagnostic::error(
                        "fusec::train::vocab",
                        format!(
                            "the target `{}` has a vocabulary of {n} tokens, but `{}` scores {width}",
                            plan.task.target, plan.task.output
                        ),
                    )
                    .label(plan.task.span, "this task")
                    .help(format!(
                        "raise the decoder's `vocab` to at least {n}, or cap the field with `max_vocab = {width}`"
                    )),
                );
            }
            return diags;
        }
    };
    let Some(field) = data.fields.get(&plan.task.target) else {
        return diags;
    };
    if let crate::data::FieldValues::I64(values) = &field.values {
        let (lo, hi) = values
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        if !values.is_empty() && (lo < 0 || hi >= classes) {
            diags.push(
                Diagnostic::error(
                    "fusec::train::classes",
                    format!(
                        "the labels of `{}` take values {lo}..={hi}, but `{}` scores {classes} classes",
                        plan.task.target, plan.task.output
                    ),
                )
                .label(plan.task.span, "this task")
                .help(format!("make `{}` produce {} logits, or check the label field", plan.task.output, hi + 1)),
            );
        }
    }
    diags
}

/// `fusec check --grad`: the gradient-flow check of `run`, alone: one training batch forward and backward
/// through every step of the plan. Exit code 1 when a parameter gets no usable gradient.
pub fn grad_check(file: &Path, sets: &[(String, String)], json: bool) -> i32 {
    let Prepared {
        compiled,
        model_index,
        plan,
        data,
        ..
    } = match compile_for_training(file, sets, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let sources = &compiled.program.sources;
    let result = (|| -> Result<(Network, Vec<GradProblem>), crate::run::RunError> {
        let model = &compiled.program.models[model_index];
        let mut rng = crate::rng::SeededRng::stream(plan.seed, 1);
        let net = Network::build(model, &compiled.shapes[model_index], &Device::Cpu, &mut rng)?;
        crate::run::translation::check_vocab_sizes(&net, &data)?;
        let objectives =
            crate::run::Objectives::resolve(&plan, model).map_err(crate::run::RunError::Config)?;
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
        Ok((net, problems))
    })();
    match result {
        Ok((net, problems)) if problems.is_empty() => {
            if !json {
                println!(
                    "gradient flow ok: all {} trainable parameters receive gradients",
                    net.trainable().len()
                );
            }
            0
        }
        Ok((net, problems)) => {
            report_grad_problems(&problems, &net, sources, json);
            1
        }
        Err(e) => super::run::run_error(&e, sources, json),
    }
}
