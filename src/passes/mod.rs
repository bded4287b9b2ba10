//! Passes: rewrites of a checked model that keep its meaning. The pipeline is fixed and runs in this order:
//!
//! 1. [`fold::ConstFold`]: folds arithmetic on numbers, removes identity activations, `dropout(p = 0)`,
//!    `noise(std = 0)`, reshapes to the same shape, one-operand concats, `x * 1`, `x + 0`, `x - 0`, `x / 1`.
//! 2. [`dce::DeadNodes`]: removes nodes that reach no output, loss or named scalar (inputs always stay).
//!
//! Folding goes first because it is what makes nodes dead. Every pass keeps the invariants of `ir::verify`
//! (tests run it after each pass) and leaves the types of the values that survive unchanged, so one `Shapes`
//! serves the whole pipeline; callers re-check afterwards to drop the entries of removed values.

pub mod dce;
pub mod fold;

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
    vec![Box::new(fold::ConstFold), Box::new(dce::DeadNodes)]
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
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::print::print_model;
    use crate::ir::{Activation, BinaryOp, DimExpr, Dtype, Op};

    fn run(model: &mut Model) -> Vec<&'static str> {
        let (shapes, diags) = crate::check::check_model(model);
        assert!(!diags.has_errors(), "{diags:?}");
        optimize(model, &shapes, &mut |name, m| {
            if let Err(e) = crate::ir::verify::verify(m) {
                panic!("after {name}: {e:?}");
            }
        })
    }

    #[test]
    fn folds_identities_and_numbers_then_removes_dead_nodes() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let unused = b.input("u", Dtype::F32, &["B", "4"]);
        let d = b.op(Op::Dropout { p: 0.0 }, "d", &[x]);
        let i = b.op(Op::Act(Activation::Identity), "i", &[d]);
        let two = b.op(Op::Scalar { value: 2.0 }, "two", &[]);
        let half = b.op(Op::Scalar { value: 0.5 }, "half", &[]);
        let one = b.op(Op::Binary(BinaryOp::Mul), "one", &[two, half]);
        let y = b.op(Op::Binary(BinaryOp::Mul), "y", &[i, one]);
        let r = b.op(
            Op::Reshape {
                shape: vec![DimExpr::Sym("B".into()), DimExpr::Const(4)],
            },
            "r",
            &[y],
        );
        let _dead = b.op(Op::Act(Activation::Relu), "dead", &[unused]);
        b.output("r", r);
        let mut model = b.finish();
        assert_eq!(run(&mut model), vec!["const-fold", "dead-nodes"]);
        let (shapes, _) = crate::check::check_model(&model);
        let text = print_model(&model, Some(&shapes));
        assert_eq!(text, "model M\n  %0 = input name=x : f32[B, 4]  @ x\n  %1 = input name=u : f32[B, 4]  @ u\n  output r = %0\n");
    }

    #[test]
    fn keeps_work_that_changes_values() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let three = b.op(Op::Scalar { value: 3.0 }, "three", &[]);
        let y = b.op(Op::Binary(BinaryOp::Mul), "y", &[x, three]);
        let z = b.op(Op::Dropout { p: 0.1 }, "z", &[y]);
        b.output("z", z);
        let mut model = b.finish();
        assert!(run(&mut model).is_empty());
        assert_eq!(model.graph.n_nodes(), 4);
    }
}
