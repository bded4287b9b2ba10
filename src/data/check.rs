//! The data/model interface check, run before any file is read: every model input needs a field of the same
//! name with the same dtype and the same per-example dims (the input's leading batch dim excluded).

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{DataSpec, DimExpr, Model};

/// Diagnostics for inputs of `model` that `spec` cannot feed.
pub fn check_against_model(spec: &DataSpec, model: &Model) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for input in &model.inputs {
        let Some(field) = spec.fields.iter().find(|f| f.name == input.name) else {
            let mut d = Diagnostic::error(
                "fusec::data::no_field",
                format!(
                    "model `{}` reads input `{}`, but data `{}` has no such field",
                    model.name, input.name, spec.name
                ),
            )
            .label(input.span, "input declared here");
            if let Some(s) = did_you_mean(&input.name, spec.fields.iter().map(|f| f.name.as_str()))
            {
                d = d.help(format!(
                    "did you mean `{s}`? An input binds to the field of the same name"
                ));
            }
            diags.push(d);
            continue;
        };
        let per_example = input.dims.get(1..).unwrap_or(&[]);
        let dims_fit = input.dims.len() == field.dims.len() + 1
            && per_example
                .iter()
                .zip(&field.dims)
                .all(|(a, b)| dims_compatible(a, b));
        if input.dtype != field.dtype || !dims_fit {
            let shown = |dims: &[DimExpr]| {
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            diags.push(
                Diagnostic::error(
                    "fusec::data::input_mismatch",
                    format!(
                        "input `{}: {}[{}]` does not match field `{}: {}[{}]`",
                        input.name,
                        input.dtype,
                        shown(&input.dims),
                        field.name,
                        field.dtype,
                        shown(&field.dims)
                    ),
                )
                .label(input.span, "input declared here")
                .label(field.span, "field declared here")
                .help("the input's dims are the batch dim followed by the field's dims, with the same dtype"),
            );
        }
    }
    diags
}

/// Two declared dims can hold the same size: equal constants, or anything against a symbol or `_`.
fn dims_compatible(a: &DimExpr, b: &DimExpr) -> bool {
    match (a, b) {
        (DimExpr::Const(x), DimExpr::Const(y)) => x == y,
        _ => true,
    }
}
