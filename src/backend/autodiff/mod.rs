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

impl Tape {
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
        for &id in nodes {
            let operands = &self.operands[&id];
            let args: Vec<Tensor> = operands
                .iter()
                .map(|v| tape.get(*v).cloned())
                .collect::<Result<_>>()?;
            let needs: Vec<bool> = operands.iter().map(|v| grad_values.contains(v)).collect();
            // Under mixed precision the node computes in its dtype (`backend::precision`); the backward rules
            // then see the same casts, and `backward` casts gradients back to each operand's dtype.
            let refs: Vec<&Tensor> = args.iter().collect();
            let mut saved = None;
            let env = &tape.env;
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
            if cast_args
                .iter()
                .zip(&args)
                .any(|(c, a)| c.dtype() != a.dtype())
            {
                tape.cast_args.insert(id, cast_args);
            }
            for (port, t) in outs.into_iter().enumerate() {
                tape.values.insert(Value::new(id, port as u16), t);
            }
            tape.saved.insert(id, saved);
        }
        Ok(())
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
        let mut grads: HashMap<Value, Tensor> = HashMap::new();
        for (w, v) in terms {
            let t = tape.get(*v)?;
            let seed = Tensor::full(*w as f32, t.shape(), t.device())?.to_dtype(t.dtype())?;
            accumulate(&mut grads, *v, seed)?;
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
                self.backward_rule(id, tape, saved, &g_out, &need, want_params)?;
            for ((v, d), need) in operands.iter().zip(d_operands).zip(&need) {
                if let (Some(d), true) = (d, need) {
                    let dtype = tape.get(*v)?.dtype();
                    let d = if d.dtype() == dtype {
                        d
                    } else {
                        d.to_dtype(dtype)?
                    };
                    accumulate(&mut grads, *v, d)?;
                }
            }
            for (suffix, d) in d_params {
                if let Some(full) = self.full_param_name(id, &suffix) {
                    if step_params.contains(full) {
                        // Master weights are f32 whatever the compute dtype.
                        let dtype = self.params.get(full).map_or(d.dtype(), |p| p.dtype());
                        let d = if d.dtype() == dtype {
                            d
                        } else {
                            d.to_dtype(dtype)?
                        };
                        out.add(full, d)?;
                    }
                }
            }
        }
        Ok(out)
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
