//! Passes: rewrites of a checked model that keep its meaning. The pipeline is fixed and runs in this order:
//!
//! 1. [`fold::ConstFold`]: folds arithmetic on numbers, removes identity activations, `dropout(p = 0)`,
//!    `noise(std = 0)`, reshapes to the same shape, one-operand concats, `x * 1`, `x + 0`, `x - 0`, `x / 1`.
//! 2. [`simplify::Simplify`]: view chains — `reshape(reshape(x))` reads `x`, a transpose undone by the same
//!    transpose and a slice that keeps everything are bypassed.
//! 3. [`cse::CommonSubexpressions`]: a pure node equal to an earlier one (same op, attributes and operands) is
//!    replaced by it; never inputs, parameters, nodes that use parameters, losses or anything random.
//! 4. [`dce::DeadNodes`]: removes nodes that reach no output, loss or named scalar (inputs always stay).
//!
//! Folding and simplification go first because they make operands equal (and nodes dead); CSE then merges,
//! and dead-node elimination removes what the others bypassed. Every pass keeps the invariants of `ir::verify`
//! (tests run it after each pass) and leaves the types of the values that survive unchanged, so one `Shapes`
//! serves the whole pipeline; callers re-check afterwards to drop the entries of removed values.

pub mod cse;
pub mod dce;
pub mod fold;
pub mod grad_graph;
pub mod mode;
pub mod mode_print;
pub mod simplify;

use crate::check::Shapes;
use crate::ir::{Model, Value};

/// One rewrite of a model.
pub trait Pass {
    fn name(&self) -> &'static str;
    /// Rewrites the model in place; returns true if it changed anything.
    fn run(&self, model: &mut Model, shapes: &Shapes) -> bool;
}

/// The passes in pipeline order.
pub fn pipeline() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(fold::ConstFold),
        Box::new(simplify::Simplify),
        Box::new(cse::CommonSubexpressions),
        Box::new(dce::DeadNodes),
    ]
}

/// Runs the pipeline on one model; returns the names of the passes that changed it. `after_each` sees the model
/// after every pass (tests verify the IR there).
pub fn optimize(
    model: &mut Model,
    shapes: &Shapes,
    after_each: &mut dyn FnMut(&str, &Model),
) -> Vec<&'static str> {
    let mut changed = Vec::new();
    for pass in pipeline() {
        if pass.run(model, shapes) {
            changed.push(pass.name());
        }
        after_each(pass.name(), model);
    }
    changed
}

/// Redirects every use of `from` (operands, the model's named values, block port bindings) to `to`.
pub fn replace_value(model: &mut Model, from: Value, to: Value) {
    model.graph.replace_uses(from, to);
    let named = model
        .outputs
        .iter_mut()
        .chain(model.losses.iter_mut())
        .chain(model.named_scalars.iter_mut());
    for v in named
        .map(|nv| &mut nv.value)
        .chain(port_values(&mut model.blocks))
    {
        if *v == from {
            *v = to;
        }
    }
}

/// Every value bound to a block instance's ports, for passes that rewrite or delete values.
fn port_values(blocks: &mut [crate::ir::BlockInstance]) -> impl Iterator<Item = &mut Value> {
    blocks
        .iter_mut()
        .flat_map(|b| b.inputs.iter_mut().chain(b.outputs.iter_mut()))
        .flat_map(|p| p.values.iter_mut())
}

#[cfg(test)]
#[path = "tests/passes.rs"]
mod tests;
