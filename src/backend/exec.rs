//! The forward interpreter: runs a [`Network`]'s nodes in topological order, each through its op's kernel
//! (`Primitive::forward` in `crate::ops`, most of them calls into `crate::nn`) with a [`Kernel`] context.
//! Symbolic dims (`B`, `T`) are bound from the input tensors of each call.

use std::collections::HashMap;

use candle_core::{Device, Error, Result, Tensor, Var};

use super::Network;
use crate::ir::{Dim, DimExpr, NodeId, Value};
use crate::nn::ParamMap;
use crate::rng::SeededRng;

/// Training draws dropout masks and noise from the run's generator; evaluation is deterministic.
pub enum Mode<'a> {
    Train(&'a mut SeededRng),
    Eval,
}

impl Mode<'_> {
    pub fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_))
    }

    pub fn rng(&mut self) -> Option<&mut SeededRng> {
        match self {
            Mode::Train(r) => Some(&mut **r),
            Mode::Eval => None,
        }
    }
}

/// Every value one forward pass computed.
pub struct Outputs {
    pub values: HashMap<Value, Tensor>,
}

impl Outputs {
    pub fn get(&self, v: Value) -> Result<&Tensor> {
        self.values.get(&v).ok_or_else(|| {
            Error::Msg(format!(
                "internal: value %{}:{} was not computed",
                v.node.index(),
                v.port
            ))
        })
    }
}

/// An error of the back end: a bug in fusec, since only checked IR arrives here.
pub fn bug(msg: impl Into<String>) -> Error {
    Error::Msg(format!("internal: {}", msg.into()))
}

/// Resolves a possibly negative axis against a rank (the checker has verified it).
pub fn axis(rank: usize, a: i64) -> Result<usize> {
    let r = rank as i64;
    let ax = if a < 0 { r + a } else { a };
    if ax < 0 || ax >= r.max(1) {
        return Err(bug(format!("axis {a} out of range for rank {rank}")));
    }
    Ok(ax as usize)
}

impl Network {
    /// Runs the whole graph. `inputs` maps model input names to batch tensors.
    pub fn forward(&self, inputs: &HashMap<String, Tensor>, mode: &mut Mode) -> Result<Outputs> {
        let values = self.run_nodes(self.order.iter().copied(), inputs, mode)?;
        Ok(Outputs { values })
    }

    /// Runs `nodes` (a subsequence of the execution order, closed under operands) and returns every value they
    /// computed.
    pub(super) fn run_nodes(
        &self,
        nodes: impl Iterator<Item = NodeId>,
        inputs: &HashMap<String, Tensor>,
        mode: &mut Mode,
    ) -> Result<HashMap<Value, Tensor>> {
        let env = self.bind_symbols(inputs)?;
        let mut values: HashMap<Value, Tensor> = HashMap::new();
        for id in nodes {
            let args: Vec<&Tensor> = self.operands[&id]
                .iter()
                .map(|v| {
                    values
                        .get(v)
                        .ok_or_else(|| bug("operand computed after its user"))
                })
                .collect::<Result<_>>()?;
            let outs = self
                .run_node_at_precision(id, &args, |a| self.run_node(id, a, inputs, &env, mode))?;
            for (port, t) in outs.into_iter().enumerate() {
                values.insert(Value::new(id, port as u16), t);
            }
        }
        Ok(values)
    }

    /// Runs one node's forward kernel (its op's `Primitive::forward`) on its operand values.
    pub(super) fn run_node(
        &self,
        id: NodeId,
        args: &[&Tensor],
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
        mode: &mut Mode,
    ) -> Result<Vec<Tensor>> {
        let mut k = Kernel {
            net: self,
            id,
            inputs,
            env,
            train: mode.is_train(),
            rng: mode.rng(),
        };
        self.model.graph.node(id).op.prim().forward(&mut k, args)
    }

    /// Binds every symbolic dim of the model's inputs (as the checker resolved them) to the size in the batch.
    pub(super) fn bind_symbols(
        &self,
        inputs: &HashMap<String, Tensor>,
    ) -> Result<HashMap<String, i64>> {
        let mut env = HashMap::new();
        for input in &self.model.inputs {
            // Decoding runs the encoder without the target input; a node that needs a missing input fails there.
            let Some(t) = inputs.get(&input.name) else {
                continue;
            };
            let Some(ty) = self.shapes.ty(Value::new(input.node, 0)) else {
                continue;
            };
            if ty.dims.len() != t.rank() {
                return Err(bug(format!(
                    "input `{}` has rank {}, expected {}",
                    input.name,
                    t.rank(),
                    ty.dims.len()
                )));
            }
            for (d, actual) in ty.dims.iter().zip(t.dims()) {
                if let Dim::Sym(s) = d {
                    env.insert(s.clone(), *actual as i64);
                }
            }
        }
        Ok(env)
    }

    /// The parameters and buffers of a node by suffix.
    pub(super) fn node_vars(&self, id: NodeId) -> Result<HashMap<String, Var>> {
        let mut map = HashMap::new();
        for (suffix, full) in self.node_params.get(&id).into_iter().flatten() {
            let var = self
                .params
                .get(full)
                .ok_or_else(|| bug(format!("parameter `{full}` missing")))?;
            map.insert(suffix.clone(), var.clone());
        }
        Ok(map)
    }

    /// The parameters of a node by suffix, as tensors (what the typed parameter sets of `crate::nn` read).
    /// The node's parameters as it reads them: under mixed precision, cast to the dtype it computes in.
    pub fn param_map(&self, id: NodeId) -> Result<ParamMap> {
        self.node_vars(id)?
            .into_iter()
            .map(|(k, v)| Ok((k, self.param_for_node(id, v.as_tensor())?)))
            .collect()
    }
}

/// What a forward kernel may use besides its operands: the node's parameters, the mode and the run's generator,
/// the device, the batch's inputs and the sizes its symbols are bound to.
pub struct Kernel<'a> {
    net: &'a Network,
    id: NodeId,
    inputs: &'a HashMap<String, Tensor>,
    env: &'a HashMap<String, i64>,
    train: bool,
    rng: Option<&'a mut SeededRng>,
}

impl Kernel<'_> {
    /// The node's parameters by suffix (read them with a typed set: `LinearParams::from_map`).
    pub fn params(&self) -> Result<ParamMap> {
        self.net.param_map(self.id)
    }

    /// The node's parameters and buffers as variables (batch norm updates its running statistics in place).
    pub fn vars(&self) -> Result<HashMap<String, Var>> {
        self.net.node_vars(self.id)
    }

    /// Training draws dropout masks and noise; evaluation is deterministic.
    pub fn is_train(&self) -> bool {
        self.train
    }

    /// The run's generator in training, `None` at evaluation.
    pub fn rng(&mut self) -> Option<&mut SeededRng> {
        self.rng.as_deref_mut()
    }

    pub fn device(&self) -> &Device {
        &self.net.device
    }

    /// The batch tensor of a model input.
    pub fn input(&self, name: &str) -> Result<Tensor> {
        self.inputs
            .get(name)
            .cloned()
            .ok_or_else(|| bug(format!("no input `{name}`")))
    }

    /// Operand `i`, or an internal error naming the node.
    pub fn arg<'t>(&self, args: &[&'t Tensor], i: usize) -> Result<&'t Tensor> {
        args.get(i).copied().ok_or_else(|| {
            let path = &self.net.model.graph.node(self.id).path;
            bug(format!("{path} lacks operand {i}"))
        })
    }

    /// A size attribute as a number (the checker folded it).
    pub fn fixed(&self, e: &DimExpr) -> Result<usize> {
        match self.net.shapes.eval_fixed(e) {
            Some(n) if n >= 0 => Ok(n as usize),
            _ => Err(bug(format!("size {e} is not a fixed number at run time"))),
        }
    }

    /// Dims of a shape attribute under the batch's bindings; one `Infer` dim takes what `x` leaves.
    pub fn dims(&self, exprs: &[DimExpr], x: &Tensor) -> Result<Vec<usize>> {
        let mut dims = Vec::with_capacity(exprs.len());
        let mut infer = None;
        for (i, e) in exprs.iter().enumerate() {
            if matches!(e, DimExpr::Infer) {
                infer = Some(i);
                dims.push(1);
                continue;
            }
            match self.net.shapes.eval_in(e, self.env) {
                Some(Dim::Fixed(n)) if n >= 0 => dims.push(n as usize),
                other => return Err(bug(format!("dim {e} folded to {other:?} at run time"))),
            }
        }
        if let Some(i) = infer {
            let known: usize = dims.iter().product();
            dims[i] = x.elem_count() / known.max(1);
        }
        Ok(dims)
    }
}
