//! Per-step gradient pruning: which part of a model one training step runs forward, and which values and
//! parameters its backward pass differentiates.
//!
//! A plan step minimises a weighted sum of loss values with one optimizer, which applies gradients to its own
//! parameters only. So the step needs the forward ancestors of its terms, and gradients only for values that
//! both depend on one of its parameters and lead to one of its terms. Everything else is pruned before anything
//! runs: GAN-Fusion's discriminator step does not back-propagate into the generators and encoders (nothing there
//! depends on a discriminator weight), and its main step computes no discriminator weight gradient (it passes
//! gradients *through* the discriminator's activations to the generators, but no discriminator weight is the main
//! optimizer's).

use std::collections::{HashMap, HashSet};

use crate::ir::{Model, NodeId, Op, Value};

/// What one step runs.
#[derive(Clone, Debug, Default)]
pub struct GradGraph {
    /// The forward ancestors of the step's terms, in topological order.
    pub forward: Vec<NodeId>,
    /// Values whose gradient the backward pass computes.
    pub grad_values: HashSet<Value>,
    /// Nodes whose backward rule runs (some output needs a gradient), in reverse topological order.
    pub backward: Vec<NodeId>,
    /// Nodes that use a parameter of the step's optimizer and lead to its terms: their parameter gradients are
    /// computed.
    pub param_nodes: HashSet<NodeId>,
}

impl GradGraph {
    /// True when the backward rule of `node` must produce a gradient for operand `index`.
    pub fn operand_needs_grad(&self, model: &Model, node: NodeId, index: usize) -> bool {
        model
            .graph
            .operands(node)
            .get(index)
            .is_some_and(|v| self.grad_values.contains(v))
    }
}

/// Whether a gradient flows from an op's output into its operand `index` (before dtypes are considered).
pub fn propagates(op: &Op, index: usize) -> bool {
    match op {
        // No operand influences these outputs differentiably.
        Op::StopGradient(_) | Op::Positions(_) => false,
        Op::Input(_) | Op::Param(_) | Op::Scalar(_) => false,
        // Lengths, labels, token ids and targets are integers; the dtype test catches them too.
        Op::Recurrent(_) | Op::LastValid(_) => index == 0,
        Op::Decoder(_) => index == 0 || index == 2,
        Op::Embedding(_) => false,
        _ => true,
    }
}

/// Builds the step's graph. `order` is the model's topological order, `terms` the step's loss values,
/// `uses_step_param(n)` tells whether node `n` uses a parameter of the step's optimizer, and `is_float(v)`
/// whether a value has a floating-point dtype (only those carry gradients).
pub fn grad_graph(
    model: &Model,
    order: &[NodeId],
    terms: &[Value],
    uses_step_param: &dyn Fn(NodeId) -> bool,
    is_float: &dyn Fn(Value) -> bool,
) -> GradGraph {
    let operands: HashMap<NodeId, Vec<Value>> = order
        .iter()
        .map(|n| (*n, model.graph.operands(*n)))
        .collect();
    // 1. Forward ancestors of the terms.
    let mut needed: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = terms.iter().map(|v| v.node).collect();
    while let Some(n) = stack.pop() {
        if needed.insert(n) {
            stack.extend(operands.get(&n).into_iter().flatten().map(|v| v.node));
        }
    }
    let forward: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|n| needed.contains(n))
        .collect();
    // 2. Values that depend (differentiably) on a parameter of the step.
    let mut carries: HashSet<NodeId> = HashSet::new();
    for &n in &forward {
        let op = &model.graph.node(n).op;
        let from_operand = operands[&n]
            .iter()
            .enumerate()
            .any(|(i, v)| propagates(op, i) && is_float(*v) && carries.contains(&v.node));
        if from_operand || uses_step_param(n) {
            carries.insert(n);
        }
    }
    // 3. Of those, the values that lead to a term along differentiable edges.
    let term_set: HashSet<Value> = terms.iter().copied().collect();
    let mut grad_values: HashSet<Value> = HashSet::new();
    let mut backward = Vec::new();
    for &n in forward.iter().rev() {
        if !carries.contains(&n) {
            continue;
        }
        let n_out = model.graph.node(n).op.n_outputs();
        let mut any = false;
        for port in 0..n_out {
            let v = Value::new(n, port as u16);
            if is_float(v) && term_set.contains(&v) {
                grad_values.insert(v);
                any = true;
            }
        }
        for u in model.graph.users(n) {
            if !needed.contains(&u) {
                continue;
            }
            let u_op = &model.graph.node(u).op;
            let u_out = u_op.n_outputs();
            let user_needs = (0..u_out).any(|p| grad_values.contains(&Value::new(u, p as u16)));
            if !user_needs {
                continue;
            }
            for (i, v) in operands[&u].iter().enumerate() {
                if v.node == n && propagates(u_op, i) && is_float(*v) {
                    grad_values.insert(*v);
                    any = true;
                }
            }
        }
        if any {
            backward.push(n);
        }
    }
    let param_nodes = backward
        .iter()
        .copied()
        .filter(|n| uses_step_param(*n))
        .collect();
    GradGraph {
        forward,
        grad_values,
        backward,
        param_nodes,
    }
}
