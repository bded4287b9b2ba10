//! Constant folding and algebraic identities. A node that computes nothing is bypassed (its users read its
//! operand); a binary op on two numbers becomes a number in place, keeping its path. The bypassed nodes are left
//! for dead-node elimination.

use super::{replace_value, Pass};
use crate::check::Shapes;
use crate::ir::{Activation, BinaryOp, Model, NodeId, Op, Scalar, Value};

pub struct ConstFold;

impl Pass for ConstFold {
    fn name(&self) -> &'static str {
        "const-fold"
    }

    fn run(&self, model: &mut Model, shapes: &Shapes) -> bool {
        let Ok(order) = model.graph.topo_order() else {
            return false;
        };
        let mut changed = false;
        // Topological order folds chains (`(1 + 2) * x`) in one sweep.
        for id in order {
            if let Some(value) = fold_number(model, id) {
                set_scalar(model, id, value);
                changed = true;
            } else if let Some(to) = bypass(model, shapes, id) {
                let from = Value::new(id, 0);
                let has_users = !model.graph.users(id).is_empty()
                    || model
                        .outputs
                        .iter()
                        .chain(&model.losses)
                        .chain(&model.named_scalars)
                        .any(|nv| nv.value == from);
                if has_users {
                    replace_value(model, from, to);
                    changed = true;
                }
            }
        }
        changed
    }
}

fn scalar_of(model: &Model, v: Value) -> Option<f64> {
    if let Op::Scalar(s) = &model.graph.node(v.node).op {
        Some(s.value)
    } else {
        None
    }
}

/// `2 * 0.5` → `1`. Division by zero is left alone (it is the user's to see at run time, not ours to hide).
fn fold_number(model: &Model, id: NodeId) -> Option<f64> {
    let Op::Binary(op) = model.graph.node(id).op else {
        return None;
    };
    let ops = model.graph.operands(id);
    let (a, b) = (
        scalar_of(model, *ops.first()?)?,
        scalar_of(model, *ops.get(1)?)?,
    );
    let v = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if b != 0.0 => a / b,
        BinaryOp::Div => return None,
    };
    v.is_finite().then_some(v)
}

fn set_scalar(model: &mut Model, id: NodeId, value: f64) {
    let incoming: Vec<_> = model
        .graph
        .inner
        .edges_directed(id.0, petgraph::Direction::Incoming)
        .map(|e| petgraph::visit::EdgeRef::id(&e))
        .collect();
    for e in incoming {
        model.graph.inner.remove_edge(e);
    }
    model.graph.node_mut(id).op = Op::Scalar(Scalar { value });
}

/// The value a node's result equals, when the node computes nothing.
fn bypass(model: &Model, shapes: &Shapes, id: NodeId) -> Option<Value> {
    let ops = model.graph.operands(id);
    let same_type =
        |v: Value| shapes.ty(v).is_some() && shapes.ty(v) == shapes.ty(Value::new(id, 0));
    match &model.graph.node(id).op {
        Op::Act(Activation::Identity) => ops.first().copied(),
        Op::Dropout(d) if d.p == 0.0 => ops.first().copied(),
        Op::Noise(n) if n.std == 0.0 => ops.first().copied(),
        Op::Concat(_) if ops.len() == 1 => ops.first().copied(),
        Op::Reshape(_) => ops.first().copied().filter(|v| same_type(*v)),
        // A transpose moves elements unless it swaps an axis with itself.
        Op::Transpose(t) if t.a == t.b => ops.first().copied().filter(|v| same_type(*v)),
        Op::Binary(op) => {
            let (a, b) = (*ops.first()?, *ops.get(1)?);
            let is = |v: Value, n: f64| scalar_of(model, v) == Some(n);
            let keep = |v: Value| Some(v).filter(|v| same_type(*v));
            match op {
                BinaryOp::Add if is(a, 0.0) => keep(b),
                BinaryOp::Add | BinaryOp::Sub if is(b, 0.0) => keep(a),
                BinaryOp::Mul if is(a, 1.0) => keep(b),
                BinaryOp::Mul | BinaryOp::Div if is(b, 1.0) => keep(a),
                _ => None,
            }
        }
        // Everything else computes something (or draws from the generator).
        Op::Act(_)
        | Op::Dropout(_)
        | Op::Noise(_)
        | Op::Concat(_)
        | Op::Transpose(_)
        | Op::Input(_)
        | Op::Param(_)
        | Op::Scalar(_)
        | Op::Linear(_)
        | Op::Embedding(_)
        | Op::LayerNorm(_)
        | Op::BatchNorm(_)
        | Op::Split(_)
        | Op::Reduce(_)
        | Op::Select(_)
        | Op::Slice(_)
        | Op::LastValid(_)
        | Op::Pad(_)
        | Op::MatMul(_)
        | Op::Outer(_)
        | Op::Softmax(_)
        | Op::Recurrent(_)
        | Op::Attention(_)
        | Op::TransformerLayer(_)
        | Op::Positions(_)
        | Op::Conv1d(_)
        | Op::Conv2d(_)
        | Op::StopGradient(_)
        | Op::Decoder(_)
        | Op::Loss(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::build::ModelBuilder;
    use crate::ir::{Concat, Dtype, Op, Transpose};

    #[test]
    fn one_operand_concat_and_self_transpose_fold_but_real_transposes_stay() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4", "4"]);
        let c = b.op(Op::Concat(Concat { axis: -1 }), "c", &[x]);
        let t = b.op(Op::Transpose(Transpose { a: 1, b: 1 }), "t", &[c]);
        let u = b.op(Op::Transpose(Transpose { a: 1, b: 2 }), "u", &[t]);
        b.output("u", u);
        let mut m = b.finish();
        let shapes = crate::check::check_model(&m).unwrap();
        crate::passes::optimize(&mut m, &shapes, &mut |_, _| {});
        // Only the input and the real transpose (same type as its input, but it moves elements) remain.
        let ops: Vec<&str> = m
            .graph
            .node_ids()
            .map(|id| m.graph.node(id).op.name())
            .collect();
        assert_eq!(ops, vec!["input", "transpose"]);
        assert_eq!(m.graph.operands(u.node), vec![x]);
    }
}
