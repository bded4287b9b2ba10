//! Common-subexpression elimination: two nodes with the same op (attributes included) on the same operands
//! compute the same value, so the later one's users read the earlier one's result and dead-node elimination
//! removes the copy. In the examples this merges equal constants and MulT's embeddings, which every
//! cross-modal transformer scales by √d and adds positions to again.
//!
//! Never merged: inputs and parameters (two declarations are two tensors even when equal), anything that
//! draws from the generator (`dropout`, `noise`, attention with dropout: two draws differ), any node that uses
//! parameters (a batch norm's running statistics update once per application, and a shared layer's copies keep
//! their names in checkpoints and summaries), and losses (the plan names them one by one).

use std::collections::HashMap;

use super::{replace_value, Pass};
use crate::check::Shapes;
use crate::ir::{Model, NodeId, Op, Value};

pub struct CommonSubexpressions;

impl Pass for CommonSubexpressions {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn run(&self, model: &mut Model, _shapes: &Shapes) -> bool {
        let Ok(order) = model.graph.topo_order() else {
            return false;
        };
        // Operands are rewritten as the sweep goes, so a chain of copies (`mul` then `add`) merges in one pass.
        let mut seen: HashMap<(String, Vec<Value>), NodeId> = HashMap::new();
        let mut changed = false;
        for id in order {
            if !mergeable(model, id) {
                continue;
            }
            let key = (
                format!("{:?}", model.graph.node(id).op),
                model.graph.operands(id),
            );
            match seen.get(&key) {
                Some(&first) if model.graph.node(first).op == model.graph.node(id).op => {
                    for port in 0..model.graph.node(id).op.n_outputs() {
                        let p = port as u16;
                        replace_value(model, Value::new(id, p), Value::new(first, p));
                    }
                    changed = true;
                }
                Some(_) => {}
                None => {
                    seen.insert(key, id);
                }
            }
        }
        changed
    }
}

/// Whether a node is a pure function of its operands and attributes that may stand for an equal one.
fn mergeable(model: &Model, id: NodeId) -> bool {
    let node = model.graph.node(id);
    let op = &node.op;
    node.params.is_none()
        && !op.owns_params()
        && !op.is_stochastic()
        && !matches!(
            op,
            Op::Input(_) | Op::Param(_) | Op::Dropout(_) | Op::Noise(_) | Op::Loss(_)
        )
}

#[cfg(test)]
#[path = "tests/cse.rs"]
mod tests;
