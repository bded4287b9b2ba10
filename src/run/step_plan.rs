//! The training plan compiled against a network: for every plan step, its gradient graph (what it runs forward
//! and differentiates, `passes::grad_graph`), the parameters its optimizer owns, and which forward nodes must be
//! re-run before it because an earlier step of the same batch changed their parameters. One training forward
//! pass per batch then serves every step: GAN-Fusion's main step re-runs only the discriminator on the generated
//! vectors after the discriminator step (architectures.md §3.3), instead of the whole model.

use std::collections::{BTreeMap, HashMap, HashSet};

use candle_core::{DType, Tensor};

use super::objective::Objectives;
use crate::backend::autodiff::{ParamGrads, Tape};
use crate::backend::Network;
use crate::ir::{NodeId, Value};
use crate::passes::grad_graph::{grad_graph, GradGraph};
use crate::rng::SeededRng;
use crate::train::{clip_grad_norm, Optimizer};

/// One plan step, compiled.
pub struct CompiledStep {
    pub name: String,
    pub optimizer: String,
    /// `(name, weight, value)` of each loss term.
    pub terms: Vec<(String, f64, Value)>,
    pub graph: GradGraph,
    /// Full names of the parameters the step's optimizer applies.
    pub params: HashSet<String>,
    /// Forward nodes to re-run before this step (topological order): those that depend on parameters an
    /// earlier step of the batch updated.
    pub recompute: Vec<NodeId>,
}

/// Every step, and the union of what they run forward.
pub struct CompiledPlan {
    pub steps: Vec<CompiledStep>,
    /// The nodes the batch's forward pass runs (topological order).
    pub forward: Vec<NodeId>,
    /// Values any step differentiates.
    pub grad_values: HashSet<Value>,
}

impl CompiledPlan {
    /// Compiles the steps of `objectives`; `assignment` maps each optimizer to its parameters' full names.
    pub fn new(
        net: &Network,
        objectives: &Objectives,
        assignment: &HashMap<String, Vec<String>>,
    ) -> CompiledPlan {
        let order = net.order();
        let is_float = |v: Value| net.shapes.ty(v).is_some_and(|t| t.dtype.is_float());
        let mut steps: Vec<CompiledStep> = Vec::new();
        let mut updated: HashSet<String> = HashSet::new();
        for obj in &objectives.steps {
            let params: HashSet<String> = assignment
                .get(&obj.optimizer)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let uses = |n: NodeId| net.node_param_names(n).any(|p| params.contains(p));
            let terms: Vec<Value> = obj.terms.iter().map(|(_, _, v)| *v).collect();
            let graph = grad_graph(&net.model, order, &terms, &uses, &is_float);
            let recompute = stale_nodes(net, &graph.forward, &updated);
            updated.extend(params.iter().cloned());
            steps.push(CompiledStep {
                name: obj.step.clone(),
                optimizer: obj.optimizer.clone(),
                terms: obj.terms.clone(),
                graph,
                params,
                recompute,
            });
        }
        let all: HashSet<NodeId> = steps
            .iter()
            .flat_map(|s| s.graph.forward.iter().copied())
            .collect();
        let forward = order.iter().copied().filter(|n| all.contains(n)).collect();
        let grad_values = steps
            .iter()
            .flat_map(|s| s.graph.grad_values.iter().copied())
            .collect();
        CompiledPlan {
            steps,
            forward,
            grad_values,
        }
    }

    /// The batch's training forward pass.
    pub fn forward(
        &self,
        net: &Network,
        inputs: &HashMap<String, Tensor>,
        rng: &mut SeededRng,
    ) -> candle_core::Result<Tape> {
        let mut tape = Tape::default();
        net.forward_tape(&self.forward, inputs, rng, &self.grad_values, &mut tape)?;
        Ok(tape)
    }

    /// Re-runs what step `index` needs after earlier steps' updates; then its objective's value, each term's
    /// value, and the gradients of its parameters.
    pub fn step(
        &self,
        index: usize,
        net: &Network,
        inputs: &HashMap<String, Tensor>,
        rng: &mut SeededRng,
        tape: &mut Tape,
    ) -> candle_core::Result<StepResult> {
        let step = &self.steps[index];
        if !step.recompute.is_empty() {
            net.forward_tape(&step.recompute, inputs, rng, &self.grad_values, tape)?;
        }
        let mut value = 0.0;
        let mut parts = Vec::with_capacity(step.terms.len());
        for (name, w, v) in &step.terms {
            let x = f64::from(tape.get(*v)?.to_dtype(DType::F32)?.to_scalar::<f32>()?);
            parts.push((name.clone(), x));
            value += w * x;
        }
        let grads = if value.is_finite() {
            let weighted: Vec<(f64, Value)> = step.terms.iter().map(|(_, w, v)| (*w, *v)).collect();
            net.backward(&step.graph, tape, &weighted, &step.params)?
        } else {
            ParamGrads::default()
        };
        Ok(StepResult {
            value,
            parts,
            grads,
        })
    }
}

/// What one step of one batch produced.
pub struct StepResult {
    pub value: f64,
    pub parts: Vec<(String, f64)>,
    pub grads: ParamGrads,
}

/// The nodes of `forward` that use a parameter in `updated`, or depend on one that does.
fn stale_nodes(net: &Network, forward: &[NodeId], updated: &HashSet<String>) -> Vec<NodeId> {
    if updated.is_empty() {
        return Vec::new();
    }
    let mut stale: HashSet<NodeId> = HashSet::new();
    let mut out = Vec::new();
    for &n in forward {
        let direct = net.node_param_names(n).any(|p| updated.contains(p));
        let via = net
            .model
            .graph
            .operands(n)
            .iter()
            .any(|v| stale.contains(&v.node));
        if direct || via {
            stale.insert(n);
            out.push(n);
        }
    }
    out
}

/// How a batch ended.
pub enum BatchOutcome {
    /// Every step ran; each step's objective value.
    Done(Vec<f64>),
    /// A step's objective was not finite (nothing was updated by that step): its name and each term's value.
    NonFinite {
        step: String,
        terms: Vec<(String, f64)>,
    },
}

/// One training batch: one forward pass, then every step in order (re-running what earlier updates changed,
/// the backward pass, clipping at `clip_norm`, its optimizer's update). `optimizer_steps` counts the updates.
pub fn train_batch(
    net: &Network,
    compiled: &CompiledPlan,
    optimizers: &mut [(String, Optimizer)],
    clip_norm: Option<f64>,
    inputs: &HashMap<String, Tensor>,
    rng: &mut SeededRng,
    optimizer_steps: &mut BTreeMap<String, u64>,
) -> candle_core::Result<BatchOutcome> {
    let mut tape = compiled.forward(net, inputs, rng)?;
    let mut values = Vec::with_capacity(compiled.steps.len());
    for (si, step) in compiled.steps.iter().enumerate() {
        let result = compiled.step(si, net, inputs, rng, &mut tape)?;
        if !result.value.is_finite() {
            return Ok(BatchOutcome::NonFinite {
                step: step.name.clone(),
                terms: result.parts,
            });
        }
        values.push(result.value);
        let Some((_, opt)) = optimizers.iter_mut().find(|(n, _)| *n == step.optimizer) else {
            continue;
        };
        let mut grads = result.grads;
        if let Some(max) = clip_norm {
            clip_grad_norm(&mut grads, opt.params(), max)?;
        }
        opt.step(&grads)?;
        *optimizer_steps.entry(step.optimizer.clone()).or_default() += 1;
    }
    Ok(BatchOutcome::Done(values))
}

/// The sizes a batch binds to the model's symbolic dims (`B`, `T`), for FLOP counts at the data's lengths.
pub fn data_lengths(net: &Network, inputs: &HashMap<String, Tensor>) -> HashMap<String, i64> {
    let mut env = HashMap::new();
    for input in &net.model.inputs {
        let (Some(t), Some(ty)) = (
            inputs.get(&input.name),
            net.shapes.ty(Value::new(input.node, 0)),
        ) else {
            continue;
        };
        for (d, n) in ty.dims.iter().zip(t.dims()) {
            if let crate::ir::Dim::Sym(s) = d {
                env.insert(s.clone(), *n as i64);
            }
        }
    }
    env
}
