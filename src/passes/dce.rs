//! Dead-node elimination: keeps the nodes an output, a loss or a named scalar depends on, and every input
//! (the back end binds each declared input to a data field whether or not the graph reads it).

use std::collections::HashSet;

use super::Pass;
use crate::check::Shapes;
use crate::ir::{Model, NodeId, Op};

pub struct DeadNodes;

impl Pass for DeadNodes {
    fn name(&self) -> &'static str {
        "dead-nodes"
    }

    fn run(&self, model: &mut Model, _shapes: &Shapes) -> bool {
        let live = live_nodes(model);
        let dead: Vec<NodeId> = model
            .graph
            .node_ids()
            .filter(|id| !live.contains(id))
            .collect();
        for id in &dead {
            model.graph.remove_node(*id);
        }
        // Port bindings are provenance for diagnostics and summaries: they lose the values that are gone.
        for b in &mut model.blocks {
            for p in b.inputs.iter_mut().chain(b.outputs.iter_mut()) {
                p.values.retain(|v| live.contains(&v.node));
            }
        }
        !dead.is_empty()
    }
}

/// Nodes reachable backwards from the roots.
pub fn live_nodes(model: &Model) -> HashSet<NodeId> {
    let mut stack: Vec<NodeId> = model
        .outputs
        .iter()
        .chain(&model.losses)
        .chain(&model.named_scalars)
        .map(|nv| nv.value.node)
        .chain(
            model
                .graph
                .node_ids()
                .filter(|id| matches!(model.graph.node(*id).op, Op::Input { .. })),
        )
        .collect();
    let mut live = HashSet::new();
    while let Some(id) = stack.pop() {
        if !model.graph.contains(id) || !live.insert(id) {
            continue;
        }
        stack.extend(model.graph.operands(id).into_iter().map(|v| v.node));
    }
    live
}
