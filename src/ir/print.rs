//! The stable text dump of a model (`fusec graph --format text`, snapshots): nodes numbered in topological order,
//! one per line, `%3 = linear(%1) out=64 : f32[B, 64]  @ fusion.enc1`. Numbers depend only on the graph's
//! structure and insertion order, never on petgraph's free slots, so a pass that deletes nodes renumbers cleanly.

use std::collections::HashMap;
use std::fmt::Write;

use super::{DimExpr, Model, NodeId, Op, Value, ValueTypes};
use crate::ops::Attr;

/// Dump numbering: node -> position in the stable topological order.
pub struct Numbering(HashMap<NodeId, usize>);

impl Numbering {
    pub fn new(model: &Model) -> Numbering {
        // A cyclic graph has no topological order; fall back to index order so a dump still shows it.
        let order = model
            .graph
            .topo_order()
            .unwrap_or_else(|_| model.graph.node_ids().collect());
        Numbering(
            order
                .into_iter()
                .enumerate()
                .map(|(i, id)| (id, i))
                .collect(),
        )
    }

    pub fn of(&self, id: NodeId) -> usize {
        self.0.get(&id).copied().unwrap_or(usize::MAX)
    }

    /// `%3`, or `%3.1` for a later output port.
    pub fn value(&self, v: Value) -> String {
        if v.port == 0 {
            format!("%{}", self.of(v.node))
        } else {
            format!("%{}.{}", self.of(v.node), v.port)
        }
    }

    pub fn dim(&self, e: &DimExpr) -> String {
        match e {
            DimExpr::Of { value, axis } => format!("dim({}, {axis})", self.value(*value)),
            DimExpr::Add(a, b) => format!("({} + {})", self.dim(a), self.dim(b)),
            DimExpr::Sub(a, b) => format!("({} - {})", self.dim(a), self.dim(b)),
            DimExpr::Mul(a, b) => format!("({} * {})", self.dim(a), self.dim(b)),
            DimExpr::Div(a, b) => format!("({} / {})", self.dim(a), self.dim(b)),
            other => other.to_string(),
        }
    }

    fn dims(&self, es: &[DimExpr]) -> String {
        let v: Vec<String> = es.iter().map(|e| self.dim(e)).collect();
        format!("[{}]", v.join(", "))
    }
}

/// The whole model as text; types come from `types` (the checker's `Shapes`, or `()`: `?` where a value has none).
pub fn print_model(model: &Model, types: impl ValueTypes) -> String {
    let types: &dyn ValueTypes = &types;
    let num = Numbering::new(model);
    let mut order: Vec<NodeId> = model.graph.node_ids().collect();
    order.sort_by_key(|id| num.of(*id));
    let mut out = format!("model {}\n", model.name);
    for id in order {
        let _ = writeln!(out, "  {}", node_line(model, types, &num, id));
    }
    for (kind, list) in [
        ("output", &model.outputs),
        ("loss", &model.losses),
        ("scalar", &model.named_scalars),
    ] {
        for nv in list {
            let _ = writeln!(out, "  {kind} {} = {}", nv.name, num.value(nv.value));
        }
    }
    out
}

/// One node: `%n = op(operands) attrs : type  @ path`.
pub fn node_line(model: &Model, types: &dyn ValueTypes, num: &Numbering, id: NodeId) -> String {
    let node = model.graph.node(id);
    let operands: Vec<String> = model
        .graph
        .operands(id)
        .into_iter()
        .map(|v| num.value(v))
        .collect();
    let mut line = format!("%{} = {}", num.of(id), node.op.name());
    if !operands.is_empty() {
        let _ = write!(line, "({})", operands.join(", "));
    }
    let attrs = attrs(&node.op, num);
    if !attrs.is_empty() {
        let _ = write!(line, " {attrs}");
    }
    let _ = write!(line, " : {}", type_text(model, types, id));
    let _ = write!(line, "  @ {}", node.path);
    if let Some(p) = node.params.as_deref().filter(|p| *p != node.path) {
        let _ = write!(line, " (shares {p})");
    }
    line
}

/// The output type(s) of a node: one type, or a tuple for multi-port ops.
pub fn type_text(model: &Model, types: &dyn ValueTypes, id: NodeId) -> String {
    let n = model.graph.node(id).op.n_outputs();
    let one = |port: usize| {
        types
            .value_type(Value::new(id, port as u16))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".to_string())
    };
    if n == 1 {
        one(0)
    } else {
        let v: Vec<String> = (0..n).map(one).collect();
        format!("({})", v.join(", "))
    }
}

/// Attributes as `key=value` pairs, in the order the op declares them.
pub fn attrs(op: &Op, num: &Numbering) -> String {
    let kv: Vec<String> = op
        .prim()
        .attrs()
        .into_iter()
        .map(|(key, value)| {
            let v = match value {
                Attr::Int(n) => n.to_string(),
                Attr::Float(x) => x.to_string(),
                Attr::Bool(b) => b.to_string(),
                Attr::Text(t) => t,
                Attr::Dim(d) => num.dim(d),
                Attr::Dims(ds) => num.dims(ds),
            };
            format!("{key}={v}")
        })
        .collect();
    kv.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::{Dim, Dtype, Op, TensorType};

    #[test]
    fn dumps_in_topological_order_with_types() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let h = b.op(
            Op::Linear(crate::ir::Linear {
                out: DimExpr::Const(2),
                bias: true,
            }),
            "enc",
            &[x],
        );
        b.output("h", h);
        let model = b.finish();
        let f32 = |dims: Vec<Dim>| TensorType {
            dtype: Dtype::F32,
            dims,
        };
        let b_dim = || Dim::Sym("B".into());
        let types = HashMap::from([
            (x, f32(vec![b_dim(), Dim::Fixed(4)])),
            (h, f32(vec![b_dim(), Dim::Fixed(2)])),
        ]);
        let text = print_model(&model, &types);
        assert_eq!(
            text,
            "model M\n  %0 = input name=x : f32[B, 4]  @ x\n  %1 = linear(%0) out=2 bias=true : f32[B, 2]  @ enc\n  output h = %1\n"
        );
    }
}
