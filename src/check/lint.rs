//! Warnings: checks that never fail a compilation but point at probable mistakes. A lint sees a checked model
//! and its shapes; to add one, implement [`Lint`] and list it in [`lints`] (e.g. the fusion library's "this
//! TensorFusion is too wide, use LowRankFusion").

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Model, Op, Value};

use super::Shapes;

/// One warning check over a checked model.
pub trait Lint {
    /// Stable code of the warnings it emits (`fusec::unused::input`).
    fn code(&self) -> &'static str;
    fn check(&self, model: &Model, shapes: &Shapes, out: &mut Diagnostics);
}

/// Every lint, in the order they run.
pub fn lints() -> Vec<Box<dyn Lint>> {
    vec![Box::new(UnusedInput), Box::new(UnusedBlockOutput)]
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
            if matches!(node.op, Op::Input { .. })
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
