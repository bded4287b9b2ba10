//! Reverse-mode differentiation over the IR: the training step of a compiled model without candle's dynamic
//! autograd.
//!
//! [`Network::forward_tape`] runs a set of nodes in training mode and records, per node, what its backward rule
//! needs ([`Saved`]); [`Network::backward`] walks a step's [`GradGraph`] (see `passes::grad_graph`) in reverse and
//! applies each node's rule (`rules.rs`), producing gradients only for the values and parameters the step needs.
//! Most rules are written by hand over candle tensor ops (so they run on every device), the recurrent layers
//! use the fused CPU kernels of `nn::fused`, and the few composite ops without a hand-written rule (attention,
//! transformer layers, convolutions, the decoder, batch norm) are *traced*: their forward runs under candle's
//! autograd on local leaf variables, and their backward differentiates just that local graph.
//!
//! Compared with differentiating the whole model with candle, this computes no gradient for data inputs or for
//! parameters another optimizer owns, keeps no autograd node per element-wise op, and lets one forward pass
//! serve several plan steps (each re-running only the nodes an earlier step's update changed).

mod parallel;
mod rules;

pub(in crate::backend) use rules::layer_config;

use std::collections::{BTreeMap, HashMap, HashSet};

use candle_core::{Result, Tensor, Var};

use super::Network;
use crate::ir::{NodeId, Value};
use crate::nn::fused::recurrent::RecurrentTape;
use crate::nn::fused::transformer::LayerTape as TransformerTape;
use crate::passes::grad_graph::GradGraph;
use crate::rng::SeededRng;

/// What a node's backward rule needs besides its operands and outputs.
pub enum Saved {
    /// Operands and outputs suffice.
    Plain,
    /// A dropout mask (already scaled by `1/(1-p)`).
    Mask(Tensor),
    /// A normalisation's `x̂` and `1/sqrt(var + eps)`.
    Norm { xhat: Tensor, rstd: Tensor },
    /// The fused transformer layer's buffers.
    Transformer(Box<TransformerTape>),
    /// The fused recurrent kernels' buffers.
    Recurrent(Box<RecurrentTape>),
    /// A traced op: the leaf variables standing for its operands (those that need a gradient) and its outputs
    /// with their local autograd graph.
    Traced {
        leaves: Vec<Option<Var>>,
        outputs: Vec<Tensor>,
    },
}

/// The values of one training forward pass and what the backward rules need.
#[derive(Default)]
pub struct Tape {
    pub values: HashMap<Value, Tensor>,
    saved: HashMap<NodeId, Saved>,
    env: HashMap<String, i64>,
    /// Under mixed precision, the operands of a node as it computed with them (cast to its dtype).
    cast_args: HashMap<NodeId, Vec<Tensor>>,
}

/// What one node's training forward produced.
struct NodeRun {
    outs: Vec<Tensor>,
    saved: Saved,
    /// The operands as the node computed with them, when mixed precision cast them.
    cast_args: Option<Vec<Tensor>>,
}

impl Tape {
    fn record(&mut self, id: NodeId, run: NodeRun) {
        if let Some(cast) = run.cast_args {
            self.cast_args.insert(id, cast);
        }
        for (port, t) in run.outs.into_iter().enumerate() {
            self.values.insert(Value::new(id, port as u16), t);
        }
        self.saved.insert(id, run.saved);
    }

    pub fn get(&self, v: Value) -> Result<&Tensor> {
        self.values.get(&v).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "internal: value %{}:{} is not on the tape",
                v.node.index(),
                v.port
            ))
        })
    }
}

/// Parameter gradients by full name.
#[derive(Default)]
pub struct ParamGrads {
    pub grads: BTreeMap<String, Tensor>,
}

impl ParamGrads {
    fn add(&mut self, name: &str, g: Tensor) -> Result<()> {
        match self.grads.get_mut(name) {
            Some(acc) => *acc = acc.add(&g)?,
            None => {
                self.grads.insert(name.to_string(), g);
            }
        }
        Ok(())
    }
}

impl Network {
    /// Runs `nodes` (a topological order) in training mode, drawing dropout masks and noise from `rng`, and
    /// records what backpropagation needs. Values already on the tape are recomputed (a later plan step re-runs
    /// what an earlier step's update changed). `grad_values` are the values any step differentiates: traced ops
    /// make leaf variables for those operands.
    pub fn forward_tape(
        &self,
        nodes: &[NodeId],
        inputs: &HashMap<String, Tensor>,
        rng: &mut SeededRng,
        grad_values: &HashSet<Value>,
        tape: &mut Tape,
    ) -> Result<()> {
        tape.env = self.bind_symbols(inputs)?;
        if parallel::worth_it(self, nodes.len()) {
            return self.forward_tape_parallel(nodes, inputs, rng, grad_values, tape);
        }
        for &id in nodes {
            let args: Vec<Tensor> = self.operands[&id]
                .iter()
                .map(|v| tape.get(*v).cloned())
                .collect::<Result<_>>()?;
            let run = self.forward_node(id, &args, grad_values, inputs, &tape.env, rng)?;
            tape.record(id, run);
        }
        Ok(())
    }

    /// One node's training forward pass over its operand values `args`.
    fn forward_node(
        &self,
        id: NodeId,
        args: &[Tensor],
        grad_values: &HashSet<Value>,
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
        rng: &mut SeededRng,
    ) -> Result<NodeRun> {
        let needs: Vec<bool> = self.operands[&id]
            .iter()
            .map(|v| grad_values.contains(v))
            .collect();
        // Under mixed precision the node computes in its dtype (`backend::precision`); the backward rules
        // then see the same casts, and `backward` casts gradients back to each operand's dtype.
        let refs: Vec<&Tensor> = args.iter().collect();
        let mut saved = None;
        let outs = self.run_node_at_precision(id, &refs, |a| {
            let cast: Vec<Tensor> = a.iter().map(|t| (*t).clone()).collect();
            let (outs, s) = self.forward_rule(id, &cast, &needs, inputs, env, rng)?;
            saved = Some((s, cast));
            Ok(outs)
        })?;
        let Some((saved, cast_args)) = saved else {
            return Err(candle_core::Error::Msg(
                "internal: a node did not run".into(),
            ));
        };
        let cast_args = cast_args
            .iter()
            .zip(args)
            .any(|(c, a)| c.dtype() != a.dtype())
            .then_some(cast_args);
        Ok(NodeRun {
            outs,
            saved,
            cast_args,
        })
    }

    /// The gradients of `Σ weight · term` for the parameters of `step_params`, through the nodes of `graph`
    /// (whose forward values are on `tape`).
    pub fn backward(
        &self,
        graph: &GradGraph,
        tape: &Tape,
        terms: &[(f64, Value)],
        step_params: &HashSet<String>,
    ) -> Result<ParamGrads> {
        let seeds = terms
            .iter()
            .map(|(w, v)| {
                let t = tape.get(*v)?;
                let seed = Tensor::full(*w as f32, t.shape(), t.device())?.to_dtype(t.dtype())?;
                Ok((*v, seed))
            })
            .collect::<Result<Vec<_>>>()?;
        if parallel::worth_it(self, graph.backward.len()) {
            return self.backward_parallel(graph, tape, seeds, step_params);
        }
        let mut grads: HashMap<Value, Tensor> = HashMap::new();
        for (v, seed) in seeds {
            accumulate(&mut grads, v, seed)?;
        }
        let mut out = ParamGrads::default();
        for &id in &graph.backward {
            let n_out = self.model.graph.node(id).op.n_outputs();
            let g_out: Vec<Option<Tensor>> = (0..n_out)
                .map(|p| grads.remove(&Value::new(id, p as u16)))
                .collect();
            if g_out.iter().all(Option::is_none) {
                continue;
            }
            let (d_operands, d_params) =
                self.backward_node(id, graph, tape, &g_out, step_params)?;
            for (index, d) in d_operands {
                accumulate(&mut grads, self.operands[&id][index], d)?;
            }
            for (full, d) in d_params {
                out.add(&full, d)?;
            }
        }
        Ok(out)
    }

    /// One node's backward rule given its output gradients: `(operand index, gradient)` for each operand the
    /// step differentiates (in the operand's dtype), and `(full name, gradient)` for each of the node's
    /// parameters the step updates (in the master weights' dtype).
    #[allow(clippy::type_complexity)]
    fn backward_node(
        &self,
        id: NodeId,
        graph: &GradGraph,
        tape: &Tape,
        g_out: &[Option<Tensor>],
        step_params: &HashSet<String>,
    ) -> Result<(Vec<(usize, Tensor)>, Vec<(String, Tensor)>)> {
        let operands = &self.operands[&id];
        let need: Vec<bool> = operands
            .iter()
            .map(|v| graph.grad_values.contains(v))
            .collect();
        let want_params = graph.param_nodes.contains(&id);
        let saved = tape.saved.get(&id).ok_or_else(|| {
            candle_core::Error::Msg(format!("internal: node {} was not recorded", id.index()))
        })?;
        let (d_operands, d_params) =
            self.backward_rule(id, tape, saved, g_out, &need, want_params)?;
        let mut to_operands = Vec::new();
        for (index, ((v, d), need)) in operands.iter().zip(d_operands).zip(&need).enumerate() {
            if let (Some(d), true) = (d, need) {
                // `to_dtype` to the tensor's own dtype is a cheap clone.
                to_operands.push((index, d.to_dtype(tape.get(*v)?.dtype())?));
            }
        }
        let mut to_params = Vec::new();
        for (suffix, d) in d_params {
            if let Some(full) = self.full_param_name(id, &suffix) {
                if step_params.contains(full) {
                    // Master weights are f32 whatever the compute dtype.
                    let dtype = self.params.get(full).map_or(d.dtype(), |p| p.dtype());
                    to_params.push((full.clone(), d.to_dtype(dtype)?));
                }
            }
        }
        Ok((to_operands, to_params))
    }

    /// The full name of a node's parameter given its suffix.
    fn full_param_name(&self, id: NodeId, suffix: &str) -> Option<&String> {
        self.node_params
            .get(&id)?
            .iter()
            .find(|(s, _)| s == suffix)
            .map(|(_, full)| full)
    }

    /// Full names of the parameters a node uses.
    pub fn node_param_names(&self, id: NodeId) -> impl Iterator<Item = &String> {
        self.node_params
            .get(&id)
            .into_iter()
            .flatten()
            .map(|(_, f)| f)
    }

    /// The model's topological order (what the executor runs).
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }
}

fn accumulate(grads: &mut HashMap<Value, Tensor>, v: Value, d: Tensor) -> Result<()> {
    match grads.get_mut(&v) {
        Some(acc) => *acc = acc.add(&d)?,
        None => {
            grads.insert(v, d);
        }
    }
    Ok(())
}
