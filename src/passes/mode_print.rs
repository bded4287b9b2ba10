//! `fusec graph --mode`: a mode's graph as the IR text dump (the specialized model through `ir::print`) under a
//! header that says what the mode keeps, and for training modes a mark per node: `∂w` when its parameter
//! gradients are computed, `∂` when its backward rule runs; or as Graphviz DOT.

use std::collections::HashSet;
use std::fmt::Write;

use super::mode::{specialize, ModeGraph};
use crate::check::Shapes;
use crate::ir::print::{node_line, Numbering};
use crate::ir::{Model, NodeId};

/// The text dump of `g` over `model`.
pub fn print_mode_graph(model: &Model, shapes: &Shapes, g: &ModeGraph) -> String {
    let m = specialize(model, g);
    let num = Numbering::new(&m);
    let mut order: Vec<NodeId> = m.graph.node_ids().collect();
    order.sort_by_key(|id| num.of(*id));
    let mut out = header(model, &m, g);
    let backward: HashSet<NodeId> = g
        .grad
        .iter()
        .flat_map(|gg| gg.backward.iter().copied())
        .collect();
    for id in order {
        let mark = match &g.grad {
            None => "",
            Some(gg) if gg.param_nodes.contains(&id) => "∂w ",
            Some(_) if backward.contains(&id) => "∂  ",
            Some(_) => "   ",
        };
        let _ = writeln!(out, "  {mark}{}", node_line(&m, shapes, &num, id));
    }
    for (kind, list) in [
        ("output", &m.outputs),
        ("loss", &m.losses),
        ("scalar", &m.named_scalars),
    ] {
        for nv in list {
            let _ = writeln!(out, "  {kind} {} = {}", nv.name, num.value(nv.value));
        }
    }
    out
}

/// The specialized model as DOT, named after the model and the mode.
pub fn mode_dot(model: &Model, shapes: &Shapes, g: &ModeGraph) -> String {
    let mut m = specialize(model, g);
    m.name = format!("{} ({})", model.name, g.mode);
    crate::ir::dot::to_dot(&m, shapes)
}

fn header(model: &Model, m: &Model, g: &ModeGraph) -> String {
    let mut s = format!("model {} mode {}", model.name, g.mode);
    if !g.steps.is_empty() {
        let _ = write!(s, " (steps: {})", g.steps.join(", "));
    }
    let _ = write!(
        s,
        "\n  -- {} of {} nodes",
        m.graph.n_nodes(),
        model.graph.n_nodes()
    );
    if !g.identities.is_empty() {
        let _ = write!(
            s,
            ", {} pass-through(s) bypassed (dropout, noise, stop_gradient)",
            g.identities.len()
        );
    }
    if let Some(gg) = &g.grad {
        let _ = write!(
            s,
            "; backward {} nodes, parameter gradients at {} nodes",
            gg.backward.len(),
            gg.param_nodes.len()
        );
    }
    s.push('\n');
    s
}
