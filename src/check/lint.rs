//! Warnings: checks that never fail a compilation but point at probable mistakes. A lint sees a checked model
//! and its shapes; to add one, implement [`Lint`] and list it in [`lints`] (e.g. the fusion library's "this
//! TensorFusion is too wide, use LowRankFusion").

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Model, NodeId, Op, Value};

use super::Shapes;

/// One warning check over a checked model.
pub trait Lint {
    /// Stable code of the warnings it emits (`fusec::unused::input`).
    fn code(&self) -> &'static str;
    fn check(&self, model: &Model, shapes: &Shapes, out: &mut Diagnostics);
}

/// Every lint, in the order they run.
pub fn lints() -> Vec<Box<dyn Lint>> {
    vec![
        Box::new(UnusedInput),
        Box::new(UnusedBlockOutput),
        Box::new(TensorFusionWidth),
    ]
}

/// Runs every lint on a model that checked without errors.
pub fn run_lints(model: &Model, shapes: &Shapes, out: &mut Diagnostics) {
    for lint in lints() {
        lint.check(model, shapes, out);
    }
}

/// A model input nothing reads: usually a forgotten modality.
pub struct UnusedInput;

impl Lint for UnusedInput {
    fn code(&self) -> &'static str {
        "fusec::unused::input"
    }

    fn check(&self, model: &Model, _shapes: &Shapes, out: &mut Diagnostics) {
        // The task target is read by the metrics, not the graph; lowering marks nothing for it, so an input that
        // only feeds the metrics is still "unused" here. Losses normally read the labels, which keeps it quiet.
        for input in &model.inputs {
            let node = model.graph.node(input.node);
            let mut named = model
                .outputs
                .iter()
                .chain(&model.losses)
                .chain(&model.named_scalars);
            let is_output = named.any(|nv| nv.value.node == input.node);
            if matches!(node.op, Op::Input(_))
                && !is_output
                && model.graph.users(input.node).is_empty()
            {
                let d = Diagnostic::warning(
                    self.code(),
                    format!("the input `{}` is never used", input.name),
                )
                .label(input.span, "declared here")
                .help("remove it, or feed it into the model");
                out.push(d);
            }
        }
    }
}

/// A named output of a top-level block call that nothing reads, while another output of the same call is used:
/// usually a forgotten `f.attn`. Scalar outputs are exempt (a train step may name them, `fusion.recon`), and so
/// are calls of blocks with a single output (an unused binding is lowering's `fusec::unused::name`).
pub struct UnusedBlockOutput;

impl Lint for UnusedBlockOutput {
    fn code(&self) -> &'static str {
        "fusec::unused::output"
    }

    fn check(&self, model: &Model, shapes: &Shapes, out: &mut Diagnostics) {
        let roots: Vec<Value> = model
            .outputs
            .iter()
            .chain(&model.losses)
            .chain(&model.named_scalars)
            .map(|nv| nv.value)
            .collect();
        let used = |v: Value| roots.contains(&v) || value_has_users(model, v);
        for b in model
            .blocks
            .iter()
            .filter(|b| b.parent.is_none() && b.outputs.len() > 1)
        {
            let any_used = b.outputs.iter().any(|p| p.values.iter().any(|v| used(*v)));
            for port in &b.outputs {
                let scalar = port
                    .values
                    .iter()
                    .all(|v| shapes.ty(*v).is_some_and(|t| t.rank() == 0));
                if !any_used || scalar || port.values.iter().any(|v| used(*v)) {
                    continue;
                }
                let d = Diagnostic::warning(
                    self.code(),
                    format!(
                        "the output `{}.{}` of `{}` is never used",
                        b.path, port.name, b.block
                    ),
                )
                .label(b.call_site, "called here")
                .help(format!(
                    "use `{}.{}`, or ignore this if the block computes it anyway",
                    b.path, port.name
                ));
                out.push(d);
            }
        }
    }
}

/// Whether any node reads this output port.
fn value_has_users(model: &Model, v: Value) -> bool {
    model
        .graph
        .inner
        .edges_directed(v.node.0, petgraph::Direction::Outgoing)
        .any(|e| e.weight().port == v.port)
}

/// A TensorFusion whose fused width F = prod(d_m + 1), or the linear layer reading it, is too large to train:
/// 257^3 = 16,974,593 for three 256-d latents (2.2 billion weights at 128 units).
pub struct TensorFusionWidth;

/// Warn above this fused width, or above this many weights in the layer after the fusion.
const TFN_MAX_WIDTH: i64 = 1_000_000;
const TFN_MAX_NEXT_WEIGHTS: i64 = 50_000_000;

impl Lint for TensorFusionWidth {
    fn code(&self) -> &'static str {
        "fusec::fusion::tfn_width"
    }

    fn check(&self, model: &Model, shapes: &Shapes, out: &mut Diagnostics) {
        for b in model.blocks.iter().filter(|b| b.block == "TensorFusion") {
            let Some(v) = b.outputs.first().and_then(|p| p.values.first()) else {
                continue;
            };
            let Some(width) = shapes
                .ty(*v)
                .and_then(|t| t.dims.last())
                .and_then(|d| d.fixed())
            else {
                continue;
            };
            let factors: Vec<String> = b
                .inputs
                .first()
                .map(|p| p.values.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|v| {
                    shapes
                        .ty(*v)
                        .and_then(|t| t.dims.last())
                        .and_then(|d| d.fixed())
                })
                .map(|d| format!("({d} + 1)"))
                .collect();
            let next = next_linear_width(model, shapes, v.node);
            let weights = next.map(|n| n.saturating_mul(width));
            if width <= TFN_MAX_WIDTH && weights.is_none_or(|w| w <= TFN_MAX_NEXT_WEIGHTS) {
                continue;
            }
            let mut msg = format!(
                "this TensorFusion's fused width is {} = {}",
                thousands(width),
                factors.join(" * ")
            );
            if let (Some(n), Some(w)) = (next, weights) {
                msg.push_str(&format!(
                    "; the linear layer after it ({n} units) has {} weights",
                    thousands(w)
                ));
            }
            let d = Diagnostic::warning(self.code(), msg)
                .label(b.call_site, "fused here")
                .help("project the latents to a few dozen units first (32 / 32 / 64 in TFN's matched setting), or use LowRankFusion, whose size grows with the sum of the widths instead of their product");
            out.push(d);
        }
    }
}

/// The output width of the first linear layer reading `node`, looking through single-operand ops (dropout,
/// activations) on the way.
fn next_linear_width(model: &Model, shapes: &Shapes, node: NodeId) -> Option<i64> {
    let mut at = node;
    for _ in 0..4 {
        let users = model.graph.users(at);
        let first = *users.first()?;
        if let Op::Linear(l) = &model.graph.node(first).op {
            return shapes.eval_fixed(&l.out);
        }
        if model.graph.operands(first).len() != 1 {
            return None;
        }
        at = first;
    }
    None
}

/// `16974593` -> `16,974,593`.
fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
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
