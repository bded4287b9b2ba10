//! Evaluation and prediction without a training tape: only the nodes the requested values need, in evaluation
//! mode (no dropout or noise), the fused recurrent kernels where they apply, no autograd bookkeeping, and every
//! intermediate freed after its last use.

use std::collections::{HashMap, HashSet};

use candle_core::{Result, Tensor};

use super::exec::{Mode, Outputs};
use super::Network;
use crate::ir::{NodeId, Op, Value};
use crate::nn::fused::recurrent as fused_rnn;
use crate::nn::fused::transformer as fused_tf;

/// The nodes that compute a set of values, and when each value may be dropped.
#[derive(Clone, Debug)]
pub struct InferPlan {
    /// Ancestors of the targets, in topological order.
    pub nodes: Vec<NodeId>,
    /// The values to keep until the end.
    pub targets: HashSet<Value>,
    /// For each step of `nodes`, the values whose last reader it is.
    frees: Vec<Vec<Value>>,
    /// Every value some node of the plan reads.
    read: HashSet<Value>,
}

impl InferPlan {
    pub fn new(net: &Network, targets: &[Value]) -> InferPlan {
        let mut needed: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = targets.iter().map(|v| v.node).collect();
        while let Some(n) = stack.pop() {
            if needed.insert(n) {
                stack.extend(net.operands[&n].iter().map(|v| v.node));
            }
        }
        let nodes: Vec<NodeId> = net
            .order
            .iter()
            .copied()
            .filter(|n| needed.contains(n))
            .collect();
        let targets: HashSet<Value> = targets.iter().copied().collect();
        let mut last: HashMap<Value, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for v in &net.operands[n] {
                last.insert(*v, i);
            }
        }
        let read: HashSet<Value> = last.keys().copied().collect();
        let mut frees = vec![Vec::new(); nodes.len()];
        for (v, i) in last {
            if !targets.contains(&v) {
                frees[i].push(v);
            }
        }
        InferPlan {
            nodes,
            targets,
            frees,
            read,
        }
    }
}

impl Network {
    /// Runs `plan` in evaluation mode; returns the target values (others are dropped as soon as possible).
    pub fn infer(&self, plan: &InferPlan, inputs: &HashMap<String, Tensor>) -> Result<Outputs> {
        let env = self.bind_symbols(inputs)?;
        let mut values: HashMap<Value, Tensor> = HashMap::new();
        for (i, &id) in plan.nodes.iter().enumerate() {
            let args: Vec<&Tensor> = self.operands[&id]
                .iter()
                .map(|v| {
                    values.get(v).ok_or_else(|| {
                        candle_core::Error::Msg("internal: operand computed after its user".into())
                    })
                })
                .collect::<Result<_>>()?;
            let outs =
                self.run_node_at_precision(id, &args, |a| self.infer_node(id, a, inputs, &env))?;
            for (port, t) in outs.into_iter().enumerate() {
                let v = Value::new(id, port as u16);
                // Unused ports (a recurrent layer's cell state) are dropped at once.
                if plan.targets.contains(&v) || plan.read.contains(&v) {
                    values.insert(v, t.detach());
                }
            }
            for v in &plan.frees[i] {
                values.remove(v);
            }
        }
        Ok(Outputs { values })
    }

    fn infer_node(
        &self,
        id: NodeId,
        args: &[&Tensor],
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
    ) -> Result<Vec<Tensor>> {
        let op = &self.model.graph.node(id).op;
        if let Op::Recurrent(_) = op {
            let cfg = self.recurrent_config(op)?;
            let map: crate::nn::ParamMap = self
                .param_map(id)?
                .into_iter()
                .map(|(k, v)| (k, v.detach()))
                .collect();
            let params = crate::nn::RecurrentParams::from_map(&map, cfg.layers, cfg.bidirectional)?;
            if let Some(x) = args.first() {
                if fused_rnn::supported(x, &params) {
                    let out = fused_rnn::infer(x, args.get(1).copied(), &params, &cfg)?;
                    let mut v = vec![out.seq, out.h];
                    v.extend(out.c);
                    return Ok(v);
                }
            }
        }
        if let Op::TransformerLayer(layer) = op {
            let map: crate::nn::ParamMap = self
                .param_map(id)?
                .into_iter()
                .map(|(k, v)| (k, v.detach()))
                .collect();
            let params = crate::nn::TransformerParams::from_map(&map)?;
            if let Some(x) = args.first() {
                let kv = args.get(1).copied();
                if fused_tf::supported(x, kv, &params) {
                    let cfg = super::autodiff::layer_config(layer);
                    let (y, _) = fused_tf::forward(x, kv, &params, cfg, None)?;
                    return Ok(vec![y]);
                }
            }
        }
        self.run_node(id, args, inputs, env, &mut Mode::Eval)
    }
}
