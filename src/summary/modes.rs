//! What `fusec summary` adds to the table: the sizes symbolic dims take for the FLOP counts (from the data
//! section's declared field shapes, overridden by `--dim`), and the FLOPs per example of each mode of the model
//! (`passes::mode`): the training forward pass (all steps, and each step), evaluation and prediction, with the
//! share of the training forward that prediction does not compute.

use std::collections::HashMap;
use std::fmt::Write;

use super::{commas, summarize};
use crate::check::Shapes;
use crate::ir::{Dim, DimExpr, Model, Program, TrainPlan, Value};
use crate::passes::mode::{mode_graph, specialize, GraphMode};

/// A size bound to a symbolic dim for the FLOP counts, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct DimBinding {
    pub symbol: String,
    pub size: i64,
    /// `data mfeat, field text`, or `--dim`.
    pub from: String,
}

/// The sizes the data section gives the model's symbolic dims: an input binds to the field of the same name
/// (as `data::check_against_model` requires), so each symbolic dim of an input's checked type after the batch
/// axis takes the size the field declares at that axis, if it declares a number. The data set is the plan's
/// when the plan trains this model, else the file's only one. The first field that binds a symbol wins.
pub fn data_dims(program: &Program, model: &Model, shapes: &Shapes) -> Vec<DimBinding> {
    let spec = match &program.train {
        Some(plan) if plan.model == model.name => program.data_spec(&plan.data),
        _ if program.data.len() == 1 => program.data.first(),
        _ => None,
    };
    let Some(spec) = spec else {
        return Vec::new();
    };
    let mut out: Vec<DimBinding> = Vec::new();
    for input in &model.inputs {
        let (Some(field), Some(ty)) = (
            spec.fields.iter().find(|f| f.name == input.name),
            shapes.ty(Value::new(input.node, 0)),
        ) else {
            continue;
        };
        for (dim, declared) in ty.dims.iter().skip(1).zip(&field.dims) {
            if let (Dim::Sym(s), DimExpr::Const(n)) = (dim, declared) {
                if *n > 0 && !out.iter().any(|b| &b.symbol == s) {
                    out.push(DimBinding {
                        symbol: s.clone(),
                        size: *n,
                        from: format!("data {}, field {}", spec.name, field.name),
                    });
                }
            }
        }
    }
    out
}

/// The bindings of a summary: the data's, then `--dim` overrides (which replace a data binding of the same
/// symbol).
pub fn bind_dims(data: Vec<DimBinding>, flags: &[(String, i64)]) -> Vec<DimBinding> {
    let mut out = data;
    for (s, n) in flags {
        out.retain(|b| &b.symbol != s);
        out.push(DimBinding {
            symbol: s.clone(),
            size: *n,
            from: "--dim".into(),
        });
    }
    out
}

/// The environment of bindings, for `summarize`.
pub fn env_of(bindings: &[DimBinding]) -> HashMap<String, i64> {
    bindings
        .iter()
        .map(|b| (b.symbol.clone(), b.size))
        .collect()
}

/// FLOPs per example of one mode.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeFlops {
    pub mode: GraphMode,
    pub label: String,
    pub flops: i64,
}

/// The FLOPs per example (forward) of every mode: the training forward pass of all steps (what one batch runs
/// forward) and of each step, when there is a plan; evaluation; prediction.
pub fn mode_flops(
    model: &Model,
    shapes: &Shapes,
    plan: Option<&TrainPlan>,
    env: &HashMap<String, i64>,
) -> Result<Vec<ModeFlops>, String> {
    let mut modes = Vec::new();
    if let Some(plan) = plan {
        modes.push((
            GraphMode::Train(None),
            "train forward (all steps)".to_string(),
        ));
        if plan.steps.len() > 1 {
            for s in &plan.steps {
                modes.push((
                    GraphMode::Train(Some(s.name.clone())),
                    format!("train forward (step {})", s.name),
                ));
            }
        }
    }
    modes.push((GraphMode::Eval, "eval".to_string()));
    modes.push((GraphMode::Predict, "predict".to_string()));
    let mut out = Vec::with_capacity(modes.len());
    for (mode, label) in modes {
        let g = mode_graph(model, shapes, plan, &mode)?;
        let flops = summarize(&specialize(model, &g), shapes, env).flops;
        out.push(ModeFlops { mode, label, flops });
    }
    Ok(out)
}

/// One line per mode, and how much of the training forward prediction does not compute.
pub fn render_mode_flops(modes: &[ModeFlops]) -> String {
    let w = modes.iter().map(|m| m.label.len()).max().unwrap_or(0);
    let wn = modes
        .iter()
        .map(|m| commas(m.flops).len())
        .max()
        .unwrap_or(0);
    let mut s = String::from("FLOPs per example by mode (forward):\n");
    for m in modes {
        let _ = writeln!(s, "  {:<w$}  {:>wn$}", m.label, commas(m.flops));
    }
    let train = modes.iter().find(|m| m.mode == GraphMode::Train(None));
    let predict = modes.iter().find(|m| m.mode == GraphMode::Predict);
    if let (Some(t), Some(p)) = (train, predict) {
        if t.flops > 0 {
            let saved = 100.0 * (t.flops - p.flops) as f64 / t.flops as f64;
            let _ = writeln!(
                s,
                "Prediction computes {saved:.1}% fewer FLOPs than the training forward pass."
            );
        }
    }
    s
}
