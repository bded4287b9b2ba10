//! IR invariants (listed in `graph.rs`), checked after lowering and after every pass in tests. Each op's
//! arity, outputs and size attributes come from its declaration in `crate::ops`. A violation is a
//! compiler bug, never a user error, so it is reported as plain strings rather than diagnostics.

use std::collections::{HashMap, HashSet};

use super::{DimExpr, Model, NodeId, Op, Value};

/// Every violated invariant of a model, or `Ok` if there is none.
pub fn verify(model: &Model) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    let g = &model.graph;
    if let Err(n) = g.topo_order() {
        errs.push(format!("cycle through node {}", n.index()));
    }
    let exists =
        |v: &Value| g.contains(v.node) && usize::from(v.port) < g.node(v.node).op.n_outputs();
    let mut paths: HashMap<&str, Option<&str>> = HashMap::new();
    for id in g.node_ids() {
        let node = g.node(id);
        verify_operands(model, id, &mut errs);
        if let Some(prev) = paths.insert(node.path.as_str(), node.params.as_deref()) {
            // Several applications of one shared instance may carry its path; anything else must be unique.
            if prev.is_none() || prev != node.params.as_deref() {
                errs.push(format!("duplicate node path `{}`", node.path));
            }
        }
        if node.block.is_some_and(|b| b >= model.blocks.len()) {
            errs.push(format!(
                "node `{}` names a missing block instance",
                node.path
            ));
        }
        for e in node.op.dims() {
            verify_dim(e, &exists, &node.path, &mut errs);
        }
        if !node.op.owns_params() && node.params.is_some() {
            errs.push(format!(
                "node `{}` owns parameters but its op has none",
                node.path
            ));
        }
    }
    let input_nodes: Vec<NodeId> = g
        .node_ids()
        .filter(|id| matches!(g.node(*id).op, Op::Input(_)))
        .collect();
    let declared: Vec<NodeId> = model.inputs.iter().map(|i| i.node).collect();
    let (a, b): (HashSet<_>, HashSet<_>) =
        (input_nodes.iter().collect(), declared.iter().collect());
    if a != b || declared.len() != input_nodes.len() {
        errs.push("model inputs are not exactly the input nodes".to_string());
    }
    for nv in model
        .outputs
        .iter()
        .chain(&model.losses)
        .chain(&model.named_scalars)
    {
        if !exists(&nv.value) {
            errs.push(format!("`{}` refers to a missing value", nv.name));
        }
    }
    for (i, b) in model.blocks.iter().enumerate() {
        let ports = b.inputs.iter().chain(&b.outputs);
        if ports.flat_map(|p| &p.values).any(|v| !exists(v)) {
            errs.push(format!(
                "block instance `{}` binds a port to a missing value",
                b.path
            ));
        }
        if b.parent.is_some_and(|p| p >= i) {
            errs.push(format!(
                "block instance `{}` has a parent that does not precede it",
                b.path
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

fn verify_operands(model: &Model, id: NodeId, errs: &mut Vec<String>) {
    let g = &model.graph;
    let node = g.node(id);
    let mut indices: Vec<u16> = g
        .inner
        .edges_directed(id.0, petgraph::Direction::Incoming)
        .map(|e| e.weight().index)
        .collect();
    indices.sort_unstable();
    if indices
        .iter()
        .enumerate()
        .any(|(i, k)| usize::from(*k) != i)
    {
        errs.push(format!(
            "node `{}` has operand indices {indices:?}, not 0..n",
            node.path
        ));
    }
    if !node.op.prim().arity().accepts(indices.len()) {
        errs.push(format!(
            "node `{}` ({}) has {} operands",
            node.path,
            node.op.name(),
            indices.len()
        ));
    }
    for v in g.operands(id) {
        if usize::from(v.port) >= g.node(v.node).op.n_outputs() {
            errs.push(format!(
                "node `{}` reads a missing port {} of node {}",
                node.path,
                v.port,
                v.node.index()
            ));
        }
    }
}

fn verify_dim(e: &DimExpr, exists: &dyn Fn(&Value) -> bool, path: &str, errs: &mut Vec<String>) {
    match e {
        DimExpr::Of { value, .. } if !exists(value) => errs.push(format!(
            "node `{path}` has a size that refers to a missing value"
        )),
        DimExpr::Add(a, b) | DimExpr::Sub(a, b) | DimExpr::Mul(a, b) | DimExpr::Div(a, b) => {
            verify_dim(a, exists, path, errs);
            verify_dim(b, exists, path, errs);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::{Dtype, NamedValue};
    use crate::source::Span;

    #[test]
    fn a_built_model_is_valid_and_breakage_is_reported() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let y = b.op(
            Op::Linear(crate::ir::Linear {
                out: DimExpr::Const(2),
                bias: true,
            }),
            "y",
            &[x],
        );
        b.output("y", y);
        let mut m = b.finish();
        assert_eq!(verify(&m), Ok(()));
        // A binary op with one operand, a duplicate path and an output of a missing port.
        let z = m.graph.add_node(m.graph.node(y.node).clone());
        m.graph.node_mut(z).op = Op::Binary(crate::ir::BinaryOp::Add);
        m.graph.node_mut(z).params = None;
        m.graph.connect(y, z, 0);
        m.outputs.push(NamedValue {
            name: "bad".into(),
            value: Value::new(z, 3),
            span: Span::default(),
        });
        let errs = verify(&m).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
