//! Graphviz DOT of a model (`fusec graph --format dot`): one box per node labelled with its op and output
//! type, block instances as nested clusters, edges from operand to user (labelled with the port when it is not 0).
//! Node ids follow the text dump's numbering so both views name nodes alike.

use std::fmt::Write;

use super::print::{type_text, Numbering};
use super::{Model, NodeId, Op, ValueTypes};

/// The model as a `digraph`; renders with `dot -Tsvg`.
pub fn to_dot(model: &Model, types: impl ValueTypes) -> String {
    let shapes: &dyn ValueTypes = &types;
    let num = Numbering::new(model);
    let mut nodes: Vec<NodeId> = model.graph.node_ids().collect();
    nodes.sort_by_key(|id| num.of(*id));
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", esc(&model.name));
    out.push_str("  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    // Nodes outside any block, then each top-level cluster with its nested clusters.
    for id in nodes
        .iter()
        .filter(|id| model.graph.node(**id).block.is_none())
    {
        write_node(&mut out, model, shapes, &num, *id, 1);
    }
    for (k, _) in model
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.parent.is_none())
    {
        write_cluster(&mut out, model, shapes, &num, &nodes, k, 1);
    }
    for id in &nodes {
        for (i, v) in model.graph.operands(*id).into_iter().enumerate() {
            let label = if v.port == 0 {
                String::new()
            } else {
                format!(" [label=\"{}\"]", v.port)
            };
            let _ = writeln!(
                out,
                "  n{} -> n{}{label}; // operand {i}",
                num.of(v.node),
                num.of(*id)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn write_cluster(
    out: &mut String,
    model: &Model,
    shapes: &dyn ValueTypes,
    num: &Numbering,
    nodes: &[NodeId],
    k: usize,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    let b = &model.blocks[k];
    let _ = writeln!(out, "{pad}subgraph cluster_{k} {{");
    let _ = writeln!(out, "{pad}  label=\"{}: {}\";", esc(&b.path), esc(&b.block));
    let _ = writeln!(out, "{pad}  style=\"rounded\"; color=gray50;");
    for id in nodes
        .iter()
        .filter(|id| model.graph.node(**id).block == Some(k))
    {
        write_node(out, model, shapes, num, *id, depth + 1);
    }
    for (c, _) in model
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.parent == Some(k))
    {
        write_cluster(out, model, shapes, num, nodes, c, depth + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

fn write_node(
    out: &mut String,
    model: &Model,
    shapes: &dyn ValueTypes,
    num: &Numbering,
    id: NodeId,
    depth: usize,
) {
    let node = model.graph.node(id);
    let pad = "  ".repeat(depth);
    let head = if let Op::Input(input) = &node.op {
        format!("input {}", input.name)
    } else {
        node.op.name().to_string()
    };
    let label = format!(
        "%{} {}\\n{}\\n{}",
        num.of(id),
        esc(&head),
        esc(&node.path),
        esc(&type_text(model, shapes, id))
    );
    let fill = if matches!(node.op, Op::Input(_)) {
        ", fillcolor=\"#dbe9f6\""
    } else if matches!(node.op, Op::Loss(_)) {
        ", fillcolor=\"#f6dbdb\""
    } else if node.params.is_some() {
        ", fillcolor=\"#e6f2dc\""
    } else {
        ""
    };
    let _ = writeln!(out, "{pad}n{} [label=\"{label}\"{fill}];", num.of(id));
}

/// Escapes a string for a double-quoted DOT id or label.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::{BlockInstance, DimExpr, Dtype};
    use crate::source::Span;

    #[test]
    fn clusters_nest_and_edges_follow_numbering() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let h = b.op(
            Op::Linear(crate::ir::Linear {
                out: DimExpr::Const(2),
                bias: true,
            }),
            "f.enc",
            &[x],
        );
        let m = b.model_mut();
        m.blocks.push(BlockInstance {
            path: "f".into(),
            block: "Fuse".into(),
            parent: None,
            call_site: Span::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        m.blocks.push(BlockInstance {
            path: "f.g".into(),
            block: "G".into(),
            parent: Some(0),
            call_site: Span::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        m.graph.node_mut(h.node).block = Some(1);
        let dot = to_dot(&b.finish(), ());
        assert!(dot.contains("subgraph cluster_0 {"));
        assert!(dot.contains("    subgraph cluster_1 {"));
        assert!(dot.contains("n0 -> n1;"));
        assert!(dot.contains("n1 [label=\"%1 linear\\nf.enc\\n?\""));
    }
}
