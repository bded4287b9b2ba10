//! The stable text dump of a model (`fusec graph --format text`, snapshots): nodes numbered in topological order,
//! one per line, `%3 = linear(%1) out=64 : f32[B, 64]  @ fusion.enc1`. Numbers depend only on the graph's
//! structure and insertion order, never on petgraph's free slots, so a pass that deletes nodes renumbers cleanly.

use std::collections::HashMap;
use std::fmt::Write;

use super::{DimExpr, Init, Model, NodeId, Op, Value};
use crate::check::Shapes;

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

/// The whole model as text; types come from `shapes` when given (`?` where a value has none).
pub fn print_model(model: &Model, shapes: Option<&Shapes>) -> String {
    let num = Numbering::new(model);
    let mut order: Vec<NodeId> = model.graph.node_ids().collect();
    order.sort_by_key(|id| num.of(*id));
    let mut out = format!("model {}\n", model.name);
    for id in order {
        let _ = writeln!(out, "  {}", node_line(model, shapes, &num, id));
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
pub fn node_line(model: &Model, shapes: Option<&Shapes>, num: &Numbering, id: NodeId) -> String {
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
    let _ = write!(line, " : {}", type_text(model, shapes, id));
    let _ = write!(line, "  @ {}", node.path);
    if let Some(p) = node.params.as_deref().filter(|p| *p != node.path) {
        let _ = write!(line, " (shares {p})");
    }
    line
}

/// The output type(s) of a node: one type, or a tuple for multi-port ops.
pub fn type_text(model: &Model, shapes: Option<&Shapes>, id: NodeId) -> String {
    let n = model.graph.node(id).op.n_outputs();
    let one = |port: usize| {
        shapes
            .and_then(|s| s.ty(Value::new(id, port as u16)))
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

/// Attributes as `key=value` pairs in a fixed order.
pub fn attrs(op: &Op, num: &Numbering) -> String {
    let kv: Vec<String> = match op {
        Op::Input { name } => vec![format!("name={name}")],
        Op::Param { shape, init } => vec![
            format!("shape={}", num.dims(shape)),
            format!("init={}", init_name(*init)),
        ],
        Op::Scalar { value } => vec![format!("value={value}")],
        Op::Linear { out, bias } => vec![format!("out={}", num.dim(out)), format!("bias={bias}")],
        Op::Embedding { vocab, dim } => vec![
            format!("vocab={}", num.dim(vocab)),
            format!("dim={}", num.dim(dim)),
        ],
        Op::Act(super::Activation::LeakyRelu { slope }) => vec![format!("slope={slope}")],
        Op::Act(super::Activation::Gelu { tanh }) => vec![format!("tanh={tanh}")],
        Op::Act(_) | Op::LastValid | Op::MatMul | Op::Outer | Op::Positions | Op::StopGradient => {
            Vec::new()
        }
        Op::Binary(_) | Op::Loss(_) => Vec::new(),
        Op::Decoder {
            vocab,
            emb,
            dropout,
            init,
        } => vec![
            format!("vocab={}", num.dim(vocab)),
            format!("emb={}", num.dim(emb)),
            format!("dropout={dropout}"),
            format!("init={}", format!("{init:?}").to_lowercase()),
        ],
        Op::Dropout { p } => vec![format!("p={p}")],
        Op::Noise { std } => vec![format!("std={std}")],
        Op::LayerNorm { eps } => vec![format!("eps={eps}")],
        Op::BatchNorm { eps, momentum } => {
            vec![format!("eps={eps}"), format!("momentum={momentum}")]
        }
        Op::Concat { axis } | Op::Softmax { axis, .. } => vec![format!("axis={axis}")],
        Op::Split { sizes, axis } => {
            vec![format!("sizes={}", num.dims(sizes)), format!("axis={axis}")]
        }
        Op::Reshape { shape } => vec![format!("shape={}", num.dims(shape))],
        Op::Transpose { a, b } => vec![format!("a={a}"), format!("b={b}")],
        Op::Reduce { axis, keepdim, .. } => {
            vec![format!("axis={axis}"), format!("keepdim={keepdim}")]
        }
        Op::Select { axis, index } => vec![format!("axis={axis}"), format!("index={index}")],
        Op::Slice { axis, start, end } => vec![
            format!("axis={axis}"),
            format!("start={start}"),
            format!("end={end}"),
        ],
        Op::Pad {
            axis,
            before,
            after,
            value,
        } => {
            vec![
                format!("axis={axis}"),
                format!("before={before}"),
                format!("after={after}"),
                format!("value={value}"),
            ]
        }
        Op::Recurrent {
            hidden,
            layers,
            bidirectional,
            merge,
            ..
        } => vec![
            format!("hidden={}", num.dim(hidden)),
            format!("layers={layers}"),
            format!("bidirectional={bidirectional}"),
            format!("merge={}", format!("{merge:?}").to_lowercase()),
        ],
        Op::Attention {
            heads,
            dropout,
            causal,
        } => {
            vec![
                format!("heads={heads}"),
                format!("dropout={dropout}"),
                format!("causal={causal}"),
            ]
        }
        Op::TransformerLayer {
            heads,
            ff,
            attn_dropout,
            relu_dropout,
            res_dropout,
            causal,
        } => vec![
            format!("heads={heads}"),
            format!("ff={}", num.dim(ff)),
            format!("attn_dropout={attn_dropout}"),
            format!("relu_dropout={relu_dropout}"),
            format!("res_dropout={res_dropout}"),
            format!("causal={causal}"),
        ],
        Op::Conv1d {
            out,
            kernel,
            stride,
            padding,
            bias,
        }
        | Op::Conv2d {
            out,
            kernel,
            stride,
            padding,
            bias,
        } => vec![
            format!("out={}", num.dim(out)),
            format!("kernel={kernel}"),
            format!("stride={stride}"),
            format!("padding={padding}"),
            format!("bias={bias}"),
        ],
    };
    kv.join(" ")
}

fn init_name(init: Init) -> String {
    match init {
        Init::UniformFanIn { fan_in } => format!("uniform_fan_in({fan_in})"),
        Init::StdNormal => "normal".into(),
        Init::XavierNormal => "xavier_normal".into(),
        Init::XavierUniform => "xavier_uniform".into(),
        Init::Zeros => "zeros".into(),
        Init::Ones => "ones".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ModelBuilder;
    use crate::ir::{Dtype, Op};

    #[test]
    fn dumps_in_topological_order_with_types() {
        let mut b = ModelBuilder::new("M");
        let x = b.input("x", Dtype::F32, &["B", "4"]);
        let h = b.op(
            Op::Linear {
                out: DimExpr::Const(2),
                bias: true,
            },
            "enc",
            &[x],
        );
        b.output("h", h);
        let model = b.finish();
        let (shapes, _) = crate::check::check_model(&model);
        let text = print_model(&model, Some(&shapes));
        assert_eq!(
            text,
            "model M\n  %0 = input name=x : f32[B, 4]  @ x\n  %1 = linear(%0) out=2 bias=true : f32[B, 2]  @ enc\n  output h = %1\n"
        );
    }
}
