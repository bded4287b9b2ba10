//! Warnings: checks that never fail a compilation but point at probable mistakes. A lint sees a checked model
//! and its shapes; to add one, implement [`Lint`] and list it in [`lints`] (e.g. the fusion library's "this
//! TensorFusion is too wide, use LowRankFusion").

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Model, Op};

use super::Shapes;

/// One warning check over a checked model.
pub trait Lint {
    /// Stable code of the warnings it emits (`fusec::unused::input`).
    fn code(&self) -> &'static str;
    fn check(&self, model: &Model, shapes: &Shapes, out: &mut Diagnostics);
}

/// Every lint, in the order they run.
pub fn lints() -> Vec<Box<dyn Lint>> {
    vec![Box::new(UnusedInput)]
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
            if matches!(node.op, Op::Input { .. }) && model.graph.users(input.node).is_empty() {
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
