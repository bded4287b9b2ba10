//! The checker: names, dtypes and symbolic shapes of every model, resolved into a [`Shapes`] side table.
//!
//! Entry: [`check_program`]. For each model it infers every value's type in topological order (`infer.rs`, with
//! the op rules in `rules.rs`, `rules_nn.rs`, `reshape.rs`), unifies declared block port types with the values
//! bound to them (`ports.rs`, over the union-find of `unify.rs`), builds the parameter table, checks the losses
//! and the train plan's shape-dependent parts (`plan.rs`), and runs the lints (`lint.rs`, warnings only).
//! Every error of the stage is reported; a node whose operand failed is skipped silently.

mod infer;
pub mod lint;
pub mod plan;
mod ports;
pub mod reshape;
pub mod rules;
pub mod rules_nn;
pub mod shapes;
pub mod unify;

pub use shapes::Shapes;

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DimExpr, Model, NodeId, Program};
use infer::ModelChecker;

/// What a successful check gives: one `Shapes` per model (index-aligned with `program.models`) and the warnings.
pub type Checked = (Vec<Shapes>, Diagnostics);

/// Checks every model of a program and its train plan. `Err` holds every error (and warning) when there is an
/// error: only a program without errors gets its `Shapes`.
pub fn check_program(program: &Program) -> Result<Checked, Diagnostics> {
    let (shapes, diags, _) = check_all(program);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((shapes, diags))
}

/// The shapes (partial where a model has errors), every diagnostic, and each model's folded size attributes
/// (`infer::resolved_sizes`).
type CheckedAll = (Vec<Shapes>, Diagnostics, Vec<Vec<(NodeId, Vec<DimExpr>)>>);

fn check_all(program: &Program) -> CheckedAll {
    let mut all = Vec::with_capacity(program.models.len());
    let mut resolved = Vec::with_capacity(program.models.len());
    let mut diags = Diagnostics::default();
    for model in &program.models {
        let ck = run_checker(model);
        resolved.push(infer::resolved_sizes(&ck));
        diags.extend(ck.diags);
        all.push(ck.shapes);
    }
    plan::check_plan(program, &all, &mut diags);
    if !diags.has_errors() {
        for (model, shapes) in program.models.iter().zip(&all) {
            lint::run_lints(model, shapes, &mut diags);
        }
    }
    (all, diags, resolved)
}

/// Checks one model: types of all values, port unification, the parameter table, scalar losses. Its `Shapes`
/// when it has no error, else every error.
pub fn check_model(model: &Model) -> Result<Shapes, Diagnostics> {
    let ck = run_checker(model);
    if ck.diags.has_errors() {
        return Err(ck.diags);
    }
    Ok(ck.shapes)
}

fn run_checker(model: &Model) -> ModelChecker<'_> {
    let mut ck = ModelChecker::new(model);
    if ck.infer_all() {
        let decls = ports::port_decls(model);
        let bad = ports::check_ports(&mut ck, &decls);
        ck.flush_node_errors(&bad);
        infer::collect_params(&mut ck);
        check_losses(&mut ck);
    }
    ck
}

/// Checks a program like [`check_program`] and, when it has no errors, rewrites every size attribute to the
/// number or model-level symbol it folds to (a reshape's `-1` included). Afterwards no attribute refers to another
/// value (`dim(x, 1)`) or to a block port's symbol, so passes may delete nodes freely and the back end folds
/// attributes with `Shapes::eval` alone. `compile` always runs this.
pub fn check_and_resolve(program: &mut Program) -> Result<Checked, Diagnostics> {
    let (shapes, diags, resolved) = check_all(program);
    if diags.has_errors() {
        return Err(diags);
    }
    for (model, sizes) in program.models.iter_mut().zip(resolved) {
        for (id, dims) in sizes {
            let node = model.graph.node_mut(id);
            for (slot, d) in node.op.prim_mut().dims_mut().into_iter().zip(dims) {
                *slot = d;
            }
        }
    }
    Ok((shapes, diags))
}

/// Losses and named block scalars must be `f32[]` so a step can minimise their weighted sum.
fn check_losses(ck: &mut ModelChecker) {
    let model = ck.model;
    for nv in model.losses.iter().chain(&model.named_scalars) {
        let Some(t) = ck.shapes.types.get(&nv.value) else {
            continue;
        };
        if t.rank() != 0 || !t.dtype.is_float() {
            let d = Diagnostic::error("fusec::shape::loss", format!("the loss `{}` is {t}, not a scalar f32[]", nv.name))
                .label(nv.span, format!("this is {t}"))
                .help("reduce it to a number, e.g. with `mean(x, axis = 0)` or a loss primitive such as `mse`");
            ck.diags.push(d);
        }
    }
}

#[cfg(test)]
#[path = "tests/check.rs"]
mod tests;
