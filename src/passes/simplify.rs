//! Algebraic simplification of view chains that constant folding (`fold.rs`) does not see, because they span
//! two nodes or need the operand's type:
//!
//! - `reshape(reshape(x, s1), s2)` reads `x` directly: a reshape only reinterprets the row-major layout, so
//!   the intermediate shape is irrelevant (the inner reshape dies if nothing else reads it);
//! - `transpose(transpose(x, a, b), a, b)` (either order of `a`, `b`) is `x`;
//! - a `slice` from 0 whose result has its operand's type is its operand.
//!
//! In the examples and the stdlib none of these survive folding today (measured in the CSE work of issue 15);
//! they come from user code that composes blocks (a block that flattens, followed by one that reshapes).

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::{replace_value, Pass};
use crate::check::Shapes;
use crate::ir::{Model, NodeId, Op, Value};

pub struct Simplify;

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        "simplify"
    }

    fn run(&self, model: &mut Model, shapes: &Shapes) -> bool {
        let Ok(order) = model.graph.topo_order() else {
            return false;
        };
        let mut changed = false;
        for id in order {
            let Some(&x) = model.graph.operands(id).first() else {
                continue;
            };
            let same_type = shapes.ty(x).is_some() && shapes.ty(x) == shapes.ty(Value::new(id, 0));
            let inner = &model.graph.node(x.node).op;
            match (&model.graph.node(id).op, inner) {
                (Op::Reshape(_), Op::Reshape(_)) => {
                    if let Some(&source) = model.graph.operands(x.node).first() {
                        set_operand(model, id, 0, source);
                        changed = true;
                    }
                }
                (Op::Transpose(t), Op::Transpose(u))
                    if (t.a, t.b) == (u.a, u.b) || (t.a, t.b) == (u.b, u.a) =>
                {
                    if let Some(&source) = model.graph.operands(x.node).first() {
                        changed |= bypass(model, id, source, shapes);
                    }
                }
                (Op::Slice(s), _) if s.start == 0 && same_type => {
                    changed |= bypass(model, id, x, shapes);
                }
                _ => {}
            }
        }
        changed
    }
}

/// Lets the users of `id` read `to` when both have the same type; true if anything changed.
fn bypass(model: &mut Model, id: NodeId, to: Value, shapes: &Shapes) -> bool {
    let from = Value::new(id, 0);
    if shapes.ty(to).is_none() || shapes.ty(to) != shapes.ty(from) {
        return false;
    }
    replace_value(model, from, to);
    true
}

/// Points operand `index` of `node` at `to`.
fn set_operand(model: &mut Model, node: NodeId, index: u16, to: Value) {
    let old: Vec<_> = model
        .graph
        .inner
        .edges_directed(node.0, Direction::Incoming)
        .filter(|e| e.weight().index == index)
        .map(|e| e.id())
        .collect();
    for e in old {
        model.graph.inner.remove_edge(e);
    }
    model.graph.connect(to, node, index);
}

#[cfg(test)]
#[path = "tests/simplify.rs"]
mod tests;
