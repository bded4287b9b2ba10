//! The data/model interface check, run before any file is read: every model input needs a field of the same
//! name with the same dtype and the same per-example dims (the input's leading batch dim excluded). Also the
//! checks of a data block that need no file: the split's label field and fractions, the standardized fields.

use super::split::fractions_ok;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{DataSpec, DimExpr, FieldSpec, Model, ModelInput, SplitSpec};

/// Diagnostics for inputs of `model` that `spec` cannot feed.
pub fn check_against_model(spec: &DataSpec, model: &Model) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for input in &model.inputs {
        match spec.fields.iter().find(|f| f.name == input.name) {
            None => diags.push(no_field(spec, model, input)),
            Some(field) if !fits(input, field) => diags.push(mismatch(input, field)),
            Some(_) => {}
        }
    }
    diags
}

fn no_field(spec: &DataSpec, model: &Model, input: &ModelInput) -> Diagnostic {
    let message = format!(
        "model `{}` reads input `{}`, but data `{}` has no such field",
        model.name, input.name, spec.name
    );
    let d = Diagnostic::error("fusec::data::no_field", message)
        .label(input.span, "input declared here");
    match did_you_mean(&input.name, spec.fields.iter().map(|f| f.name.as_str())) {
        Some(s) => d.help(format!(
            "did you mean `{s}`? An input binds to the field of the same name"
        )),
        None => d.help("an input binds to the field of the same name"),
    }
}

/// Same dtype, and the input's dims are a batch dim followed by dims compatible with the field's.
fn fits(input: &ModelInput, field: &FieldSpec) -> bool {
    let per_example = input.dims.get(1..).unwrap_or(&[]);
    input.dtype == field.dtype
        && input.dims.len() == field.dims.len() + 1
        && per_example
            .iter()
            .zip(&field.dims)
            .all(|(a, b)| dims_compatible(a, b))
}

/// Two declared dims can hold the same size: equal constants, or anything against a symbol or `_`.
fn dims_compatible(a: &DimExpr, b: &DimExpr) -> bool {
    match (a, b) {
        (DimExpr::Const(x), DimExpr::Const(y)) => x == y,
        _ => true,
    }
}

fn mismatch(input: &ModelInput, field: &FieldSpec) -> Diagnostic {
    let shown = |dims: &[DimExpr]| {
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = format!(
        "input `{}: {}[{}]` does not match field `{}: {}[{}]`",
        input.name,
        input.dtype,
        shown(&input.dims),
        field.name,
        field.dtype,
        shown(&field.dims)
    );
    Diagnostic::error("fusec::data::input_mismatch", message)
        .label(input.span, "input declared here")
        .label(field.span, "field declared here")
        .help(
            "the input's dims are the batch dim followed by the field's dims, with the same dtype",
        )
}

/// Problems of a data block visible without reading its files, reported with the file problems.
pub(super) fn check_spec(spec: &DataSpec, diags: &mut Diagnostics) {
    check_split(spec, diags);
    for name in &spec.standardize {
        match find_field(spec, name, "`standardize`") {
            Err(d) => diags.push(d),
            Ok(f) if !f.dtype.is_float() => {
                let message = format!(
                    "`standardize` names `{name}`, a {} field; only float fields can be standardized",
                    f.dtype
                );
                diags.push(
                    Diagnostic::error("fusec::data::standardize", message)
                        .label(f.span, "declared here"),
                );
            }
            Ok(_) => {}
        }
    }
}

fn check_split(spec: &DataSpec, diags: &mut Diagnostics) {
    let fractions = match &spec.split {
        SplitSpec::Stratified {
            by,
            train,
            valid,
            test,
            ..
        } => {
            check_label(spec, by, "`stratified`", diags);
            [*train, *valid, *test]
        }
        SplitSpec::Files {
            stratify: Some(by), ..
        } => return check_label(spec, by, "`files(stratify = ...)`", diags),
        SplitSpec::KFold {
            stratify: Some(by), ..
        } => return check_label(spec, by, "`kfold(stratify = ...)`", diags),
        SplitSpec::Random {
            train, valid, test, ..
        } => [*train, *valid, *test],
        SplitSpec::Files { .. } | SplitSpec::Column { .. } | SplitSpec::KFold { .. } => return,
    };
    if !fractions_ok(fractions) {
        let [train, valid, test] = fractions;
        let message = format!(
            "split fractions train {train}, valid {valid}, test {test} must each lie in [0, 1] and sum to at \
             most 1, with train > 0"
        );
        diags.push(
            Diagnostic::error("fusec::data::split", message)
                .label(spec.span, format!("in data `{}`", spec.name)),
        );
    }
}

/// A field that splits are stratified by must be a scalar integer label.
fn check_label(spec: &DataSpec, by: &str, role: &str, diags: &mut Diagnostics) {
    match find_field(spec, by, role) {
        Err(d) => diags.push(d),
        Ok(f) if f.dtype.is_float() || !f.dims.iter().all(|d| *d == DimExpr::Const(1)) => {
            let message = format!(
                "{role} needs a scalar integer label field, but `{by}` is {}",
                f.dtype
            );
            diags.push(
                Diagnostic::error("fusec::data::split", message).label(f.span, "declared here"),
            );
        }
        Ok(_) => {}
    }
}

/// The field `name`, or an `unknown_field` diagnostic (with a suggestion) saying `role` names it.
fn find_field<'a>(spec: &'a DataSpec, name: &str, role: &str) -> Result<&'a FieldSpec, Diagnostic> {
    spec.fields.iter().find(|f| f.name == name).ok_or_else(|| {
        let message = format!("{role} names `{name}`, which is not a field");
        let d = Diagnostic::error("fusec::data::unknown_field", message)
            .label(spec.span, format!("in data `{}`", spec.name));
        match did_you_mean(name, spec.fields.iter().map(|f| f.name.as_str())) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d,
        }
    })
}
