//! `fusec summary`: a Keras-style table of a checked model, per block instance and node: output shape,
//! parameter count (trainable parameters and buffers; a shared instance counts at its first application) and
//! forward FLOPs per example (conventions in `summary/flops.rs`), with totals of trainable parameters, buffers
//! and FLOPs. Everything comes from the IR and `Shapes`; no tensor is allocated.

pub mod flops;
pub mod memory;
pub mod modes;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use crate::check::Shapes;
use crate::ir::{Dim, DimExpr, Model, NodeId, TensorType, Value};

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Nesting depth (0 for the model's own nodes and top-level block instances).
    pub depth: usize,
    pub name: String,
    /// The op's name, or the block's name for an instance row.
    pub op: String,
    /// Empty for instance rows.
    pub shape: String,
    pub params: i64,
    pub flops: i64,
    pub is_block: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub model: String,
    pub rows: Vec<Row>,
    pub trainable: i64,
    pub buffers: i64,
    pub flops: i64,
    /// The batch symbol (set to 1 for per-example numbers), if the model has one.
    pub batch: Option<String>,
    /// Symbolic dims that were counted as 1 because nothing bound them (`T`).
    pub unbound: Vec<String>,
    /// The sizes given to symbolic dims and where they came from (the data section, `--dim`), for the header;
    /// `summarize` leaves it empty and its caller fills it in with the bindings it passed in `env`.
    pub bound: Vec<modes::DimBinding>,
}

/// Summarises a checked model; `env` binds symbolic dims other than the batch (`T = 50`) for the FLOP counts.
pub fn summarize(model: &Model, shapes: &Shapes, env: &HashMap<String, i64>) -> Summary {
    let batch = model.inputs.first().and_then(|i| match i.dims.first() {
        Some(DimExpr::Sym(s)) => Some(s.clone()),
        _ => None,
    });
    let mut env = env.clone();
    if let Some(b) = &batch {
        env.insert(b.clone(), 1);
    }
    let order = model
        .graph
        .topo_order()
        .unwrap_or_else(|_| model.graph.node_ids().collect());
    let mut seen_owners = HashSet::new();
    let mut unbound = BTreeSet::new();
    let mut node_rows: Vec<(NodeId, Row)> = Vec::with_capacity(order.len());
    let (mut trainable, mut buffers) = (0, 0);
    for id in &order {
        let (row, t, b) = node_row(model, shapes, &env, *id, &mut seen_owners, &mut unbound);
        trainable = t.saturating_add(trainable);
        buffers = b.saturating_add(buffers);
        node_rows.push((*id, row));
    }
    let flops = node_rows
        .iter()
        .fold(0i64, |a, (_, r)| a.saturating_add(r.flops));
    let rows = nest(model, shapes, node_rows);
    let unbound = unbound.into_iter().collect();
    Summary {
        model: model.name.clone(),
        rows,
        trainable,
        buffers,
        flops,
        batch,
        unbound,
        bound: Vec::new(),
    }
}

fn node_row(
    model: &Model,
    shapes: &Shapes,
    env: &HashMap<String, i64>,
    id: NodeId,
    seen_owners: &mut HashSet<String>,
    unbound: &mut BTreeSet<String>,
) -> (Row, i64, i64) {
    let node = model.graph.node(id);
    let ins: Vec<TensorType> = model
        .graph
        .operands(id)
        .iter()
        .filter_map(|v| shapes.ty(*v).cloned())
        .collect();
    let outs: Vec<TensorType> = (0..node.op.n_outputs())
        .filter_map(|p| shapes.ty(Value::new(id, p as u16)).cloned())
        .collect();
    for t in ins.iter().chain(&outs) {
        for d in &t.dims {
            if let Dim::Sym(s) = d {
                if !env.contains_key(s) {
                    unbound.insert(s.clone());
                }
            }
        }
    }
    let (mut t, mut b) = (0, 0);
    // A shared instance's parameters are counted at its first application only.
    if node
        .params
        .as_ref()
        .is_some_and(|o| seen_owners.insert(o.clone()))
    {
        let dims: Vec<Vec<Dim>> = ins.iter().map(|t| t.dims.clone()).collect();
        for spec in node
            .op
            .param_specs(&dims, &|e| shapes.eval_fixed(e))
            .unwrap_or_default()
        {
            let n = spec.shape.iter().fold(1i64, |a, d| a.saturating_mul(*d));
            if spec.trainable {
                t = n.saturating_add(t);
            } else {
                b = n.saturating_add(b);
            }
        }
    }
    let shape = crate::ir::print::type_text(model, shapes, id);
    let flops = flops::node_flops(&node.op, &ins, &outs, env);
    let row = Row {
        depth: 0,
        name: node.path.clone(),
        op: node.op.name().to_string(),
        shape,
        params: t.saturating_add(b),
        flops,
        is_block: false,
    };
    (row, t, b)
}

/// The declared outputs of a block instance with their checked types: `f32[B, 16]`, or
/// `(z: f32[B, 16], recon: f32[])` for named outputs.
fn block_outputs(b: &crate::ir::BlockInstance, shapes: &Shapes) -> String {
    let ty = |p: &crate::ir::PortType| {
        p.values
            .first()
            .and_then(|v| shapes.ty(*v))
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".to_string())
    };
    match b.outputs.as_slice() {
        [] => String::new(),
        [one] if one.name.is_empty() => ty(one),
        many => {
            let parts: Vec<String> = many
                .iter()
                .map(|p| format!("{}: {}", p.name, ty(p)))
                .collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Inserts a row per block instance before its first node and indents nodes by their nesting depth.
fn nest(model: &Model, shapes: &Shapes, node_rows: Vec<(NodeId, Row)>) -> Vec<Row> {
    let chain = |id: NodeId| {
        let mut c = Vec::new();
        let mut k = model.graph.node(id).block;
        while let Some(i) = k {
            c.push(i);
            k = model.blocks.get(i).and_then(|b| b.parent);
        }
        c.reverse();
        c
    };
    let mut totals: HashMap<usize, (i64, i64)> = HashMap::new();
    for (id, row) in &node_rows {
        for k in chain(*id) {
            let e = totals.entry(k).or_default();
            e.0 = e.0.saturating_add(row.params);
            e.1 = e.1.saturating_add(row.flops);
        }
    }
    let mut out = Vec::with_capacity(node_rows.len() + model.blocks.len());
    let mut emitted = HashSet::new();
    for (id, mut row) in node_rows {
        let c = chain(id);
        for (depth, k) in c.iter().enumerate() {
            let Some(b) = model.blocks.get(*k) else {
                continue;
            };
            if emitted.insert(*k) {
                let (params, flops) = totals.get(k).copied().unwrap_or_default();
                out.push(Row {
                    depth,
                    name: b.path.clone(),
                    op: b.block.clone(),
                    shape: block_outputs(b, shapes),
                    params,
                    flops,
                    is_block: true,
                });
            }
        }
        row.depth = c.len();
        out.push(row);
    }
    out
}

impl Summary {
    /// The table as text.
    pub fn render(&self) -> String {
        let names: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{}{}", "  ".repeat(r.depth), r.name))
            .collect();
        let w0 = names
            .iter()
            .map(|n| n.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.op.len())
            .chain([2])
            .max()
            .unwrap_or(2);
        let w2 = self
            .rows
            .iter()
            .map(|r| r.shape.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12);
        let w3 = self
            .rows
            .iter()
            .map(|r| commas(r.params).len())
            .chain([6, commas(self.trainable).len()])
            .max()
            .unwrap_or(6);
        let w4 = self
            .rows
            .iter()
            .map(|r| commas(r.flops).len())
            .chain([5, commas(self.flops).len()])
            .max()
            .unwrap_or(5);
        let width = w0 + w1 + w2 + w3 + w4 + 8;
        let mut s = format!("Model: {}\n", self.model);
        if !self.bound.is_empty() {
            let parts: Vec<String> = self
                .bound
                .iter()
                .map(|b| format!("{} = {} ({})", b.symbol, b.size, b.from))
                .collect();
            let _ = writeln!(s, "FLOPs at {}", parts.join(", "));
        }
        let rule = |c: char| c.to_string().repeat(width) + "\n";
        s.push_str(&rule('='));
        let _ = writeln!(
            s,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
            "Layer (path)", "Op", "Output shape", "Params", "FLOPs"
        );
        s.push_str(&rule('='));
        for (row, name) in self.rows.iter().zip(&names) {
            let _ = writeln!(
                s,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
                name,
                row.op,
                row.shape,
                commas(row.params),
                commas(row.flops)
            );
        }
        s.push_str(&rule('-'));
        let _ = writeln!(s, "Trainable params: {}", commas(self.trainable));
        let _ = writeln!(s, "Buffers: {}", commas(self.buffers));
        let _ = writeln!(s, "FLOPs per example (forward): {}", commas(self.flops));
        if !self.unbound.is_empty() {
            let _ = writeln!(
                s,
                "Note: symbolic dims {} count as 1 in FLOPs (FLOPs scale with them).",
                self.unbound.join(", ")
            );
        }
        s
    }
}

/// `1234567` -> `1,234,567`.
pub fn commas(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::{Dtype, Op};

    #[test]
    fn counts_linear_parameters_and_flops() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "T", "4"]);
        let h = b.op(
            Op::Linear(crate::ir::Linear {
                out: DimExpr::Const(3),
                bias: true,
            }),
            "h",
            &[x],
        );
        b.output("h", h);
        let model = b.finish();
        let shapes = crate::check::check_model(&model).unwrap();
        let s = summarize(&model, &shapes, &HashMap::new());
        assert_eq!((s.trainable, s.flops), (15, 2 * 4 * 3 + 3));
        assert_eq!(s.unbound, vec!["T".to_string()]);
        let env = HashMap::from([("T".to_string(), 10)]);
        assert_eq!(summarize(&model, &shapes, &env).flops, 10 * (2 * 4 * 3 + 3));
        assert_eq!(commas(1234567), "1,234,567");
        assert_eq!(commas(12), "12");
    }
}
