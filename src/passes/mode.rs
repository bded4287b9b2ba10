//! Mode-specialized graphs: what one mode of a checked model computes, decided at compile time.
//!
//! - `train:STEP`: the forward ancestors of the step's loss terms, and (through [`grad_graph`]) the nodes its
//!   backward pass runs and the parameter gradients its optimizer applies; `train` is the batch's training
//!   graph, every step's union (one forward pass serves them all).
//! - `eval`: the task output and the losses the metrics report (every model loss and every step's terms).
//! - `predict`: the model's outputs only, so AutoFusion's reconstruction decoder, GAN-Fusion's translators,
//!   discriminators and noise, and every loss are not computed.
//!
//! In eval and predict, `dropout`, `noise` and `stop_gradient` compute nothing (no generator, no tape): they
//! are *identities*, which [`specialize`] bypasses in the graph it shows and the back end's `InferPlan` runs
//! as a pass-through. Evaluation, prediction, `fusec graph --mode` and `fusec summary --mode` all read this
//! one decision.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::grad_graph::{grad_graph, GradGraph};
use super::replace_value;
use crate::check::Shapes;
use crate::ir::{Model, NodeId, Op, TaskKind, TrainPlan, Value};

/// A mode of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphMode {
    /// Training: every step (`None`), or one step by name or 1-based number.
    Train(Option<String>),
    Eval,
    Predict,
}

impl GraphMode {
    /// `train`, `train:STEP` (a step's name or 1-based number), `eval` or `predict`.
    pub fn parse(s: &str) -> Result<GraphMode, String> {
        match s.trim() {
            "train" => Ok(GraphMode::Train(None)),
            "eval" => Ok(GraphMode::Eval),
            "predict" => Ok(GraphMode::Predict),
            other => match other.strip_prefix("train:") {
                Some(step) if !step.trim().is_empty() => {
                    Ok(GraphMode::Train(Some(step.trim().to_string())))
                }
                _ => Err(format!(
                    "`{other}` is not a mode; use `train`, `train:STEP` (a step's name or number), `eval` or `predict`"
                )),
            },
        }
    }

    /// Whether the mode runs without a training tape (dropout and noise off).
    pub fn is_inference(&self) -> bool {
        !matches!(self, GraphMode::Train(_))
    }
}

impl fmt::Display for GraphMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphMode::Train(None) => write!(f, "train"),
            GraphMode::Train(Some(s)) => write!(f, "train:{s}"),
            GraphMode::Eval => write!(f, "eval"),
            GraphMode::Predict => write!(f, "predict"),
        }
    }
}

/// What one mode computes.
#[derive(Clone, Debug)]
pub struct ModeGraph {
    pub mode: GraphMode,
    /// The training steps the graph covers (their plan names), empty outside training.
    pub steps: Vec<String>,
    /// The values the mode exists to produce.
    pub targets: Vec<Value>,
    /// Every node the mode runs, in topological order (identities included).
    pub nodes: Vec<NodeId>,
    /// Nodes of `nodes` that pass their first operand through unchanged in this mode.
    pub identities: HashSet<NodeId>,
    /// The gradient graph of a training mode (the union of its steps').
    pub grad: Option<GradGraph>,
}

/// Whether `op` computes nothing outside training.
pub fn is_inference_identity(op: &Op) -> bool {
    matches!(op, Op::Dropout(_) | Op::Noise(_) | Op::StopGradient(_))
}

/// The inference graph of `targets`: their ancestors in `order` (the model's topological order), with the
/// inference identities among them. Evaluation and prediction both come through here.
pub fn inference_nodes(
    model: &Model,
    order: &[NodeId],
    targets: &[Value],
) -> (Vec<NodeId>, HashSet<NodeId>) {
    let nodes = ancestors(model, order, targets);
    let identities = nodes
        .iter()
        .copied()
        .filter(|n| is_inference_identity(&model.graph.node(*n).op))
        .collect();
    (nodes, identities)
}

/// The nodes of `order` that some value of `targets` depends on, in that order.
pub fn ancestors(model: &Model, order: &[NodeId], targets: &[Value]) -> Vec<NodeId> {
    let mut needed: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = targets.iter().map(|v| v.node).collect();
    while let Some(n) = stack.pop() {
        if needed.insert(n) {
            stack.extend(model.graph.operands(n).into_iter().map(|v| v.node));
        }
    }
    order
        .iter()
        .copied()
        .filter(|n| needed.contains(n))
        .collect()
}

/// What evaluation computes: the task output (translation decodes instead), every model loss and every loss
/// a step names. Without a plan: every output and every loss.
pub fn eval_targets(model: &Model, plan: Option<&TrainPlan>) -> Vec<Value> {
    let mut out: Vec<Value> = model.losses.iter().map(|l| l.value).collect();
    match plan {
        Some(plan) => {
            for step in &plan.steps {
                out.extend(step.terms.iter().filter_map(|t| model.loss_value(&t.name)));
            }
            if plan.task.kind != TaskKind::Translation {
                out.extend(model.output_value(&plan.task.output));
            }
        }
        None => out.extend(model.outputs.iter().map(|o| o.value)),
    }
    let mut seen = HashSet::new();
    out.retain(|v| seen.insert(*v));
    out
}

/// What prediction computes: the model's outputs.
pub fn predict_targets(model: &Model) -> Vec<Value> {
    model.outputs.iter().map(|o| o.value).collect()
}

/// The graph of `mode`. Training modes need the plan (its steps and optimizers); a step that names no loss of
/// the model, an unknown step or a bad parameter glob is an error in words.
pub fn mode_graph(
    model: &Model,
    shapes: &Shapes,
    plan: Option<&TrainPlan>,
    mode: &GraphMode,
) -> Result<ModeGraph, String> {
    let order = model
        .graph
        .topo_order()
        .map_err(|_| "internal: the model has a cycle".to_string())?;
    let inference = |targets: Vec<Value>| {
        let (nodes, identities) = inference_nodes(model, &order, &targets);
        ModeGraph {
            mode: mode.clone(),
            steps: Vec::new(),
            targets,
            nodes,
            identities,
            grad: None,
        }
    };
    match mode {
        GraphMode::Predict => Ok(inference(predict_targets(model))),
        GraphMode::Eval => Ok(inference(eval_targets(model, plan))),
        GraphMode::Train(step) => {
            let plan = plan.ok_or_else(|| {
                format!(
                    "mode `{mode}` needs a `train {{ }}` section for model `{}`",
                    model.name
                )
            })?;
            train_graph(model, shapes, plan, &order, step.as_deref(), mode)
        }
    }
}

fn train_graph(
    model: &Model,
    shapes: &Shapes,
    plan: &TrainPlan,
    order: &[NodeId],
    step: Option<&str>,
    mode: &GraphMode,
) -> Result<ModeGraph, String> {
    let chosen: Vec<usize> = match step {
        None => (0..plan.steps.len()).collect(),
        Some(s) => vec![find_step(plan, s)?],
    };
    let trainable: Vec<String> = shapes
        .params()
        .iter()
        .filter(|(_, p)| p.trainable)
        .map(|(n, _)| n.clone())
        .collect();
    let assigned = assign_params(plan, &trainable)?;
    let is_float = |v: Value| shapes.ty(v).is_some_and(|t| t.dtype.is_float());
    let mut union = GradGraph::default();
    let mut targets = Vec::new();
    for &i in &chosen {
        let spec = &plan.steps[i];
        let terms: Vec<Value> = spec
            .terms
            .iter()
            .map(|t| {
                model.loss_value(&t.name).ok_or_else(|| {
                    format!(
                        "step `{}` names `{}`, which is not a loss of model `{}`",
                        spec.name, t.name, model.name
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let params: HashSet<&String> = assigned
            .iter()
            .filter(|(o, _)| *o == spec.optimizer)
            .flat_map(|(_, ps)| ps)
            .collect();
        let uses = |n: NodeId| node_params(model, &trainable, n).any(|p| params.contains(p));
        let g = grad_graph(model, order, &terms, &uses, &is_float);
        union.forward.extend(g.forward);
        union.grad_values.extend(g.grad_values);
        union.backward.extend(g.backward);
        union.param_nodes.extend(g.param_nodes);
        targets.extend(terms);
    }
    let forward: HashSet<NodeId> = union.forward.iter().copied().collect();
    union.forward = order
        .iter()
        .copied()
        .filter(|n| forward.contains(n))
        .collect();
    let backward: HashSet<NodeId> = union.backward.iter().copied().collect();
    union.backward = order
        .iter()
        .rev()
        .copied()
        .filter(|n| backward.contains(n))
        .collect();
    Ok(ModeGraph {
        mode: mode.clone(),
        steps: chosen.iter().map(|i| plan.steps[*i].name.clone()).collect(),
        targets,
        nodes: union.forward.clone(),
        identities: HashSet::new(),
        grad: Some(union),
    })
}

/// A step by name or 1-based number.
fn find_step(plan: &TrainPlan, s: &str) -> Result<usize, String> {
    if let Some(i) = plan.steps.iter().position(|p| p.name == s) {
        return Ok(i);
    }
    if let Ok(k) = s.parse::<usize>() {
        if (1..=plan.steps.len()).contains(&k) {
            return Ok(k - 1);
        }
    }
    let names: Vec<&str> = plan.steps.iter().map(|p| p.name.as_str()).collect();
    Err(format!(
        "the plan has no step `{s}`; its steps are {} (or their numbers 1..={})",
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        names.len()
    ))
}

/// The full names among `names` that belong to node `n`'s parameter owner (the back end's rule: the owner
/// itself, or anything under `owner.`).
fn node_params<'a>(
    model: &'a Model,
    names: &'a [String],
    n: NodeId,
) -> impl Iterator<Item = &'a String> + 'a {
    let owner = model.graph.node(n).params.as_deref();
    names.iter().filter(move |full| {
        owner.is_some_and(|o| {
            full.as_str() == o
                || full
                    .strip_prefix(o)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    })
}

/// Splits trainable parameter names among the plan's optimizers by glob: an optimizer without globs takes every
/// parameter no other optimizer claims; a parameter claimed twice or an optimizer that selects nothing is an
/// error. Returns each optimizer's names, in the plan's order.
pub fn assign_params(
    plan: &TrainPlan,
    trainable: &[String],
) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for opt in plan.optimizers.iter().filter(|o| !o.params.is_empty()) {
        let pats: Vec<glob::Pattern> = opt
            .params
            .iter()
            .map(|p| {
                glob::Pattern::new(p)
                    .map_err(|e| format!("optimizer `{}`: bad pattern `{p}`: {e}", opt.name))
            })
            .collect::<Result<_, _>>()?;
        let mut matched = 0;
        for name in trainable {
            if pats.iter().any(|p| p.matches(name)) {
                if let Some(prev) = owner.insert(name, &opt.name) {
                    return Err(format!(
                        "parameter `{name}` is claimed by optimizers `{prev}` and `{}`; each parameter may have one optimizer",
                        opt.name
                    ));
                }
                matched += 1;
            }
        }
        if matched == 0 {
            return Err(format!(
                "optimizer `{}` selects no parameter with {:?}; parameter names look like `{}`",
                opt.name,
                opt.params,
                trainable.first().map(String::as_str).unwrap_or("-")
            ));
        }
    }
    let default = plan.optimizers.iter().find(|o| o.params.is_empty());
    let mut out: Vec<(String, Vec<String>)> = plan
        .optimizers
        .iter()
        .map(|o| (o.name.clone(), Vec::new()))
        .collect();
    for name in trainable {
        let who = owner
            .get(name.as_str())
            .copied()
            .or(default.map(|o| o.name.as_str()));
        if let Some((_, list)) = who.and_then(|w| out.iter_mut().find(|(n, _)| n == w)) {
            list.push(name.clone());
        }
    }
    Ok(out)
}

/// The model restricted to what `g` computes: other nodes removed (inputs stay: the back end binds every
/// declared input), inference identities bypassed, and the outputs, losses and named scalars it does not
/// compute dropped. Values keep their ids, so the model's `Shapes` still describe them.
pub fn specialize(model: &Model, g: &ModeGraph) -> Model {
    let mut m = model.clone();
    for &id in &g.nodes {
        if g.identities.contains(&id) {
            if let Some(x) = m.graph.operands(id).first().copied() {
                replace_value(&mut m, Value::new(id, 0), x);
            }
        }
    }
    let keep: HashSet<NodeId> = g
        .nodes
        .iter()
        .copied()
        .filter(|n| !g.identities.contains(n))
        .collect();
    let dead: Vec<NodeId> = m
        .graph
        .node_ids()
        .filter(|id| !keep.contains(id) && !matches!(m.graph.node(*id).op, Op::Input(_)))
        .collect();
    for id in &dead {
        m.graph.remove_node(*id);
    }
    let alive = |v: &Value| m.graph.contains(v.node);
    let outputs = m
        .outputs
        .iter()
        .filter(|o| alive(&o.value))
        .cloned()
        .collect();
    let losses = m
        .losses
        .iter()
        .filter(|o| alive(&o.value))
        .cloned()
        .collect();
    let scalars = m
        .named_scalars
        .iter()
        .filter(|o| alive(&o.value))
        .cloned()
        .collect();
    let ports_alive: Vec<Vec<Vec<bool>>> = m
        .blocks
        .iter()
        .map(|b| {
            b.inputs
                .iter()
                .chain(b.outputs.iter())
                .map(|p| p.values.iter().map(alive).collect())
                .collect()
        })
        .collect();
    (m.outputs, m.losses, m.named_scalars) = (outputs, losses, scalars);
    for (b, flags) in m.blocks.iter_mut().zip(ports_alive) {
        for (p, keep) in b.inputs.iter_mut().chain(b.outputs.iter_mut()).zip(flags) {
            let mut k = keep.into_iter();
            p.values.retain(|_| k.next().unwrap_or(false));
        }
    }
    m
}

#[cfg(test)]
#[path = "tests/mode.rs"]
mod tests;
