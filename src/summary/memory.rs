//! The memory a model needs, estimated from the IR and `Shapes` before any tensor exists, so that a model too
//! large for the machine is refused with a diagnostic instead of aborting in the allocator: parameters,
//! gradients and optimizer state, and the activations of one batch (kept for the backward pass when training).
//! Symbolic dims other than the batch count as 1 unless bound, so the estimate is a lower bound: a model it
//! refuses cannot run.

use std::collections::HashMap;

use crate::check::Shapes;
use crate::diag::Diagnostic;
use crate::guarded_read::human_bytes;
use crate::ir::{Dim, Dtype, Model, OptimizerKind, TrainPlan, Value};
use crate::source::Span;

/// What a model needs, in bytes, and its largest single consumers (largest first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryEstimate {
    pub params: u64,
    /// Gradients plus every optimizer's moments (training only).
    pub optimizer: u64,
    pub activations: u64,
    /// The batch size the activations were counted at.
    pub batch: i64,
    pub consumers: Vec<Consumer>,
}

/// One node's share: its parameters (with their gradients and moments) or its activations.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// "parameters of `enc.fc`", "activations of `logits`".
    pub what: String,
    pub bytes: u64,
    pub span: Span,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.params
            .saturating_add(self.optimizer)
            .saturating_add(self.activations)
    }
}

/// How many consumers an estimate keeps.
const KEEP: usize = 3;

/// Training by `plan`: parameters, their gradients, the optimizers' moments (Adam and AdamW two per
/// parameter, SGD with momentum one; the largest need counts for all, an upper bound when optimizers split the
/// parameters), a temporary of the update and the copy the gradient-flow check keeps of the first batch, and
/// each node's activations at `plan.batch_size` four times:
/// the forward value kept for the backward pass, its gradient, and the two temporaries a backward rule makes
/// (a broadcast product's gradient multiplies and then sums a tensor of the output's size). Measured by the
/// fuzz harness (docs/RELIABILITY.md): a TensorFusion model's peak was 2.2 GB where twice the activations
/// predicted 0.6 GB.
pub fn training_memory(
    model: &Model,
    shapes: &Shapes,
    plan: &TrainPlan,
    env: &HashMap<String, i64>,
) -> MemoryEstimate {
    let moments = plan
        .optimizers
        .iter()
        .map(|o| match o.kind {
            OptimizerKind::Adam { .. } | OptimizerKind::AdamW { .. } => 2,
            OptimizerKind::Sgd { momentum, .. } if momentum != 0.0 => 1,
            OptimizerKind::Sgd { .. } => 0,
        })
        .max()
        .unwrap_or(0);
    // Per trainable parameter: itself, its gradient, its moments, a temporary of the update and the saved copy.
    estimate(model, shapes, plan.batch_size as i64, env, 4 + moments, 4)
}

/// Evaluation or prediction at `batch` rows: parameters and one batch's activations.
pub fn inference_memory(
    model: &Model,
    shapes: &Shapes,
    batch: i64,
    env: &HashMap<String, i64>,
) -> MemoryEstimate {
    estimate(model, shapes, batch, env, 1, 1)
}

/// `param_copies` copies of every trainable parameter (buffers count once) and `activation_copies` of every
/// node output at `batch` rows.
fn estimate(
    model: &Model,
    shapes: &Shapes,
    batch: i64,
    env: &HashMap<String, i64>,
    param_copies: u64,
    activation_copies: u64,
) -> MemoryEstimate {
    let mut env = env.clone();
    if let Some(b) = batch_symbol(model) {
        env.insert(b, batch.max(1));
    }
    let mut consumers = Vec::new();
    let owner_span = owner_spans(model);
    let (mut params, mut optimizer) = (0u64, 0u64);
    let mut per_owner: HashMap<&str, u64> = HashMap::new();
    for (name, spec) in shapes.params() {
        let bytes = numel(spec.shape.iter().copied()).saturating_mul(4);
        params = params.saturating_add(bytes);
        let extra = if spec.trainable {
            bytes.saturating_mul(param_copies - 1)
        } else {
            0
        };
        optimizer = optimizer.saturating_add(extra);
        // `Param` nodes own one parameter named by their path; layers own `path.suffix`.
        let owner = match name.rsplit_once('.') {
            Some((o, _)) if !owner_span.contains_key(name.as_str()) => o,
            _ => name.as_str(),
        };
        let e = per_owner.entry(owner).or_default();
        *e = e.saturating_add(bytes.saturating_add(extra));
    }
    for (owner, bytes) in per_owner {
        if let Some(span) = owner_span.get(owner) {
            consumers.push(Consumer {
                what: format!("parameters of `{owner}`"),
                bytes,
                span: *span,
            });
        }
    }
    let mut activations = 0u64;
    for id in model.graph.node_ids() {
        let node = model.graph.node(id);
        let mut bytes = 0u64;
        for port in 0..node.op.n_outputs() {
            if let Some(t) = shapes.ty(Value::new(id, port as u16)) {
                let n = numel(t.dims.iter().map(|d| match d {
                    Dim::Fixed(n) => *n,
                    Dim::Sym(s) => env.get(s).copied().unwrap_or(1),
                }));
                bytes = bytes.saturating_add(n.saturating_mul(dtype_bytes(t.dtype)));
            }
        }
        let bytes = bytes.saturating_mul(activation_copies);
        activations = activations.saturating_add(bytes);
        consumers.push(Consumer {
            what: format!("activations of `{}`", node.path),
            bytes,
            span: user_site(node),
        });
    }
    consumers.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.what.cmp(&b.what)));
    consumers.truncate(KEEP);
    // Only what matters: a consumer below a twentieth of the total is not worth a label.
    let total = params.saturating_add(optimizer).saturating_add(activations);
    consumers.retain(|c| c.bytes.saturating_mul(20) >= total);
    MemoryEstimate {
        params,
        optimizer,
        activations,
        batch,
        consumers,
    }
}

/// The diagnostic of an estimate above `limit` bytes: the total, its parts and the largest consumers as labels.
/// `what` says what needs the memory ("training `Mfeat3`").
pub fn memory_error(est: &MemoryEstimate, limit: u64, what: &str) -> Option<Diagnostic> {
    if est.total() <= limit {
        return None;
    }
    let mut d = Diagnostic::error(
        "fusec::limit::memory",
        format!(
            "{what} needs at least {}, more than the {} allowed",
            human_bytes(est.total()),
            human_bytes(limit)
        ),
    );
    for c in &est.consumers {
        d = d.label(c.span, format!("{}: {}", c.what, human_bytes(c.bytes)));
    }
    let mut parts = vec![format!("parameters {}", human_bytes(est.params))];
    if est.optimizer > 0 {
        parts.push(format!(
            "gradients and optimizer state {}",
            human_bytes(est.optimizer)
        ));
    }
    parts.push(format!(
        "activations at batch size {}: {}",
        est.batch,
        human_bytes(est.activations)
    ));
    Some(d.note(parts.join(", ")).help(
        "shrink the largest layers or the batch size; `--max-memory SIZE` sets the limit (default: the \
         machine's memory)",
    ))
}

/// Beam search over `rows` sentences: each of `rows × beam` hypotheses carries the encoder memory
/// (`memory_len × width`), the decoder state (`4 × hidden`), a row of scores over the vocabulary (three copies:
/// logits, log-probabilities, candidates) and up to `max_len` tokens.
pub fn decoding_memory(
    rows: u64,
    beam: u64,
    max_len: u64,
    vocab: u64,
    memory_len: u64,
    width: u64,
    hidden: u64,
) -> u64 {
    let per_hypothesis = memory_len
        .saturating_mul(width)
        .saturating_add(hidden.saturating_mul(4))
        .saturating_add(vocab.saturating_mul(3))
        .saturating_add(max_len)
        .saturating_mul(4);
    rows.max(1)
        .saturating_mul(beam.max(1))
        .saturating_mul(per_hypothesis)
}

/// The batch symbol: the first dim of the first input, when symbolic (`B`).
pub fn batch_symbol(model: &Model) -> Option<String> {
    model.inputs.first().and_then(|i| match i.dims.first() {
        Some(crate::ir::DimExpr::Sym(s)) => Some(s.clone()),
        _ => None,
    })
}

/// Where a node's memory is best pointed at: the outermost call site of the block instance it is in (the
/// user's line that made it), or the node itself at the top level.
fn user_site(node: &crate::ir::Node) -> Span {
    node.call_sites.last().copied().unwrap_or(node.span)
}

/// The [`user_site`] of the first node owning each parameter path.
fn owner_spans(model: &Model) -> HashMap<String, Span> {
    let mut out = HashMap::new();
    for id in model.graph.node_ids() {
        let node = model.graph.node(id);
        if let Some(owner) = &node.params {
            out.entry(owner.clone()).or_insert(user_site(node));
        }
    }
    out
}

fn numel(dims: impl Iterator<Item = i64>) -> u64 {
    dims.fold(1u64, |a, d| a.saturating_mul(d.max(0) as u64))
}

fn dtype_bytes(d: Dtype) -> u64 {
    match d {
        Dtype::F32 | Dtype::U32 => 4,
        Dtype::F64 | Dtype::I64 => 8,
        Dtype::Bool => 1,
    }
}
