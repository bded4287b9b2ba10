//! The data/model interface check, run before any file is read: every model input needs a field of the same
//! name with the same dtype and the same per-example dims (the input's leading batch dim excluded). Also the
//! checks of a data block that need no file: the split's label field and fractions, the standardized fields.

use super::split::fractions_ok;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{DataSpec, DimExpr, FieldSpec, Model, SplitSpec};

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

/// Problems of a data block visible without reading its files, reported with the file problems.
pub(super) fn check_spec(spec: &DataSpec, diags: &mut Diagnostics) {
    let field = |name: &str, role: &str| -> Result<&FieldSpec, Diagnostic> {
        spec.fields.iter().find(|f| f.name == name).ok_or_else(|| {
            let d = Diagnostic::error(
                "fusec::data::unknown_field",
                format!("{role} names `{name}`, which is not a field"),
            )
            .label(spec.span, format!("in data `{}`", spec.name));
            match did_you_mean(name, spec.fields.iter().map(|f| f.name.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d,
            }
        })
    };
    let fractions = match &spec.split {
        SplitSpec::Stratified {
            by,
            train,
            valid,
            test,
            ..
        } => {
            match field(by, "`stratified`") {
                Err(d) => diags.push(d),
                Ok(f) if f.dtype.is_float() || !f.dims.iter().all(|d| *d == DimExpr::Const(1)) => {
                    diags.push(
                        Diagnostic::error(
                            "fusec::data::split",
                            format!(
                                "`stratified` needs a scalar integer label field, but `{by}` is {}",
                                f.dtype
                            ),
                        )
                        .label(f.span, "declared here"),
                    )
                }
                Ok(_) => {}
            }
            Some([*train, *valid, *test])
        }
        SplitSpec::Random {
            train, valid, test, ..
        } => Some([*train, *valid, *test]),
        SplitSpec::Files => None,
    };
    if let Some(f) = fractions.filter(|f| !fractions_ok(*f)) {
        diags.push(
            Diagnostic::error("fusec::data::split", format!("split fractions train {}, valid {}, test {} must each lie in [0, 1] and sum to at most 1, with train > 0", f[0], f[1], f[2]))
                .label(spec.span, format!("in data `{}`", spec.name)),
        );
    }
    for name in &spec.standardize {
        match field(name, "`standardize`") {
            Err(d) => diags.push(d),
            Ok(f) if !f.dtype.is_float() => diags.push(
                Diagnostic::error("fusec::data::standardize", format!("`standardize` names `{name}`, a {} field; only float fields can be standardized", f.dtype))
                    .label(f.span, "declared here"),
            ),
            Ok(_) => {}
        }
    }
}
