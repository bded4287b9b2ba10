//! Checks tensors handed to a trained model from outside the data pipeline (`fusec predict`) against the model's
//! checked input types before anything runs: every model input present, its rank and fixed widths, symbolic dims
//! that agree across inputs (one `B` for all), at least one example, and only finite values. Each problem is a
//! user error naming the file and the input, never a failure inside the back end.

use std::collections::HashMap;

use candle_core::Tensor;

use super::RunError;
use crate::check::Shapes;
use crate::ir::{Dim, Model, Value};

/// Checks `inputs` (read from `file`) against `model`; inputs in `optional` (the task's target) may be absent.
pub fn check_inputs(
    model: &Model,
    shapes: &Shapes,
    inputs: &HashMap<String, Tensor>,
    optional: Option<&str>,
    file: &str,
) -> Result<(), RunError> {
    let mut bound: HashMap<&str, (usize, &str)> = HashMap::new();
    for input in &model.inputs {
        let Some(t) = inputs.get(&input.name) else {
            if Some(input.name.as_str()) == optional {
                continue;
            }
            let mut have: Vec<&str> = inputs.keys().map(String::as_str).collect();
            have.sort();
            return Err(RunError::Config(format!(
                "{file} has no tensor named `{}` (a model input); it holds: {}",
                input.name,
                if have.is_empty() {
                    "nothing".to_string()
                } else {
                    have.join(", ")
                }
            )));
        };
        let Some(ty) = shapes.ty(Value::new(input.node, 0)) else {
            continue;
        };
        let dims = t.dims();
        if dims.len() != ty.dims.len() {
            return Err(RunError::Config(format!(
                "{file}: `{}` has shape {dims:?} (rank {}), but the model's input `{}` is {ty} (rank {})",
                input.name,
                dims.len(),
                input.name,
                ty.dims.len()
            )));
        }
        if dims.first() == Some(&0) {
            return Err(RunError::Config(format!(
                "{file}: `{}` holds no examples (its first dimension is 0)",
                input.name
            )));
        }
        for (axis, (want, got)) in ty.dims.iter().zip(dims).enumerate() {
            match want {
                Dim::Fixed(n) if *n != *got as i64 => {
                    return Err(RunError::Config(format!(
                        "{file}: `{}` has {got} values on axis {axis}, but the model's input `{}` is {ty}",
                        input.name, input.name
                    )));
                }
                Dim::Sym(s) => match bound.get(s.as_str()) {
                    Some((n, other)) if n != got => {
                        return Err(RunError::Config(format!(
                            "{file}: `{}` has {got} on axis {axis} (`{s}`), but `{other}` has {n}: inputs must agree on `{s}`",
                            input.name
                        )));
                    }
                    Some(_) => {}
                    None => {
                        bound.insert(s.as_str(), (*got, input.name.as_str()));
                    }
                },
                Dim::Fixed(_) => {}
            }
        }
        check_finite(t, &input.name, file)?;
    }
    Ok(())
}

/// NaN or infinite inputs would give confident-looking garbage; they are refused with their count and first row.
fn check_finite(t: &Tensor, name: &str, file: &str) -> Result<(), RunError> {
    if !t.dtype().is_float() {
        return Ok(());
    }
    let rows = t.dim(0).unwrap_or(1).max(1);
    let flat: Vec<f64> = t
        .to_dtype(candle_core::DType::F64)?
        .flatten_all()?
        .to_vec1()?;
    let per_row = flat.len() / rows;
    let Some(first) = flat.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let count = flat.iter().filter(|v| !v.is_finite()).count();
    Err(RunError::Config(format!(
        "{file}: `{name}` holds {count} NaN or infinite value(s), the first in example {}; fill or drop them before predicting",
        first / per_row.max(1)
    )))
}
