//! The memory budget of a command: `--max-memory SIZE`, by default the machine's memory, against which the
//! estimates of `summary::memory` are checked before anything is allocated (`check`, `run`, `compare`,
//! `eval`, `predict`, `translate`).

use super::print_diagnostics;
use crate::diag::Diagnostics;
use crate::front::Compiled;
use crate::guarded_read::max_memory;
use crate::summary::memory::{inference_memory, memory_error, training_memory};
use std::collections::HashMap;

/// Parses `--max-memory`: bytes, or a number with K, M, G or T (powers of 1024; `GiB`, `GB` and `g` alike).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (for example `16G` or `512M`)"))?;
    let scale = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("`{s}`: the unit must be K, M, G or T")),
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(format!("`{s}` is not a positive size"));
    }
    Ok(bytes.min(u64::MAX as f64) as u64)
}

/// Refuses a compiled program whose training (the plan's model at the plan's batch size) or, without a plan,
/// whose models at one example need more than the limit. Prints the diagnostic and returns the exit code.
pub fn check_memory(compiled: &Compiled, json: bool) -> Result<(), i32> {
    let limit = max_memory();
    let program = &compiled.program;
    let env = HashMap::new();
    let mut diags = Diagnostics::default();
    for (model, shapes) in program.models.iter().zip(&compiled.shapes) {
        let found = match &program.train {
            Some(plan) if plan.model == model.name => memory_error(
                &training_memory(model, shapes, plan, &env),
                limit,
                &format!("training `{}`", model.name),
            ),
            _ => memory_error(
                &inference_memory(model, shapes, 1, &env),
                limit,
                &format!("the model `{}`", model.name),
            ),
        };
        if let Some(d) = found {
            diags.push(d);
        }
    }
    if diags.is_empty() {
        return Ok(());
    }
    print_diagnostics(&diags, &program.sources, json);
    Err(1)
}

/// Refuses evaluating `model` at `batch` rows when that needs more than the limit.
pub fn check_inference_memory(
    compiled: &Compiled,
    model_index: usize,
    batch: i64,
    json: bool,
) -> Result<(), i32> {
    let model = &compiled.program.models[model_index];
    let est = inference_memory(model, &compiled.shapes[model_index], batch, &HashMap::new());
    match memory_error(&est, max_memory(), &format!("evaluating `{}`", model.name)) {
        None => Ok(()),
        Some(d) => {
            print_diagnostics(&d.into(), &compiled.program.sources, json);
            Err(1)
        }
    }
}
