//! The forward interpreter: runs a [`Network`]'s nodes in topological order, mapping each IR op to candle calls
//! (most of them in `crate::nn`). Symbolic dims (`B`, `T`) are bound from the input tensors of each call.

use std::collections::HashMap;

use candle_core::{DType, Error, Result, Tensor, D};

use super::Network;
use crate::ir::{Dim, DimExpr, LossKind, NodeId, Op, ReduceKind, Value};
use crate::nn::{self, ParamMap, RecurrentConfig};
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

    pub(super) fn rng(&mut self) -> Option<&mut SeededRng> {
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

fn bug(msg: impl Into<String>) -> Error {
    Error::Msg(format!("internal: {}", msg.into()))
}

fn axis(rank: usize, a: i64) -> Result<usize> {
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
        let env = self.bind_symbols(inputs)?;
        let mut values: HashMap<Value, Tensor> = HashMap::new();
        for &id in &self.order {
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
        Ok(Outputs { values })
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

    pub(super) fn param_map(&self, id: NodeId) -> Result<ParamMap> {
        let mut map = ParamMap::new();
        for (suffix, full) in self.node_params.get(&id).into_iter().flatten() {
            let var = self
                .params
                .get(full)
                .ok_or_else(|| bug(format!("parameter `{full}` missing")))?;
            map.insert(suffix.clone(), self.param_for_node(id, var.as_tensor())?);
        }
        Ok(map)
    }

    fn var(&self, id: NodeId, suffix: &str) -> Result<&candle_core::Var> {
        let full = self
            .node_params
            .get(&id)
            .and_then(|ps| ps.iter().find(|(s, _)| s == suffix))
            .map(|(_, f)| f)
            .ok_or_else(|| bug(format!("node {} has no parameter `{suffix}`", id.index())))?;
        self.params
            .get(full)
            .ok_or_else(|| bug(format!("parameter `{full}` missing")))
    }

    fn dims_of(
        &self,
        exprs: &[DimExpr],
        env: &HashMap<String, i64>,
        x: &Tensor,
    ) -> Result<Vec<usize>> {
        let mut dims = Vec::with_capacity(exprs.len());
        let mut infer = None;
        for (i, e) in exprs.iter().enumerate() {
            if matches!(e, DimExpr::Infer) {
                infer = Some(i);
                dims.push(1);
                continue;
            }
            match self.shapes.eval_in(e, env) {
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

    pub(super) fn run_node(
        &self,
        id: NodeId,
        a: &[&Tensor],
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
        mode: &mut Mode,
    ) -> Result<Vec<Tensor>> {
        let node = self.model.graph.node(id);
        let arg = |i: usize| {
            a.get(i)
                .copied()
                .ok_or_else(|| bug(format!("{} lacks operand {i}", node.path)))
        };
        let one = |t: Tensor| Ok(vec![t]);
        match &node.op {
            Op::Input { name } => one(inputs
                .get(name)
                .cloned()
                .ok_or_else(|| bug(format!("no input `{name}`")))?),
            Op::Param { .. } => one(self.var(id, "")?.as_tensor().clone()),
            Op::Scalar { value } => one(Tensor::new(*value as f32, &self.device)?),
            Op::Linear { .. } => {
                let p = self.param_map(id)?;
                let w = p
                    .get("weight")
                    .ok_or_else(|| bug("linear without weight"))?;
                one(nn::linear(arg(0)?, w, p.get("bias"))?)
            }
            Op::Embedding { .. } => {
                let w = self.var(id, "weight")?.as_tensor().clone();
                let ids = arg(0)?;
                let flat = ids.flatten_all()?.to_dtype(DType::U32)?;
                let mut dims = ids.dims().to_vec();
                dims.push(w.dim(1)?);
                one(w.index_select(&flat, 0)?.reshape(dims)?)
            }
            Op::Act(act) => one(nn::activation(arg(0)?, *act)?),
            Op::Dropout { p } => match mode.rng() {
                Some(rng) if *p > 0.0 => one(nn::dropout(arg(0)?, *p, rng)?),
                _ => one(arg(0)?.clone()),
            },
            Op::Noise { std } => match mode.rng() {
                Some(rng) if *std > 0.0 => {
                    let x = arg(0)?;
                    let eps = rng.normal_tensor(x.dims(), *std, &self.device)?;
                    one(x.add(&eps.to_dtype(x.dtype())?)?)
                }
                _ => one(arg(0)?.clone()),
            },
            Op::LayerNorm { eps } => {
                let p = self.param_map(id)?;
                let (w, b) = (p.get("weight"), p.get("bias"));
                let (w, b) = w
                    .zip(b)
                    .ok_or_else(|| bug("layer_norm without weight/bias"))?;
                one(nn::layer_norm(arg(0)?, w, b, *eps)?)
            }
            Op::BatchNorm { eps, momentum } => {
                let (w, b) = (self.var(id, "weight")?, self.var(id, "bias")?);
                let (rm, rv) = (self.var(id, "running_mean")?, self.var(id, "running_var")?);
                one(nn::batch_norm(
                    arg(0)?,
                    w.as_tensor(),
                    b.as_tensor(),
                    rm,
                    rv,
                    mode.is_train(),
                    *eps,
                    *momentum,
                )?)
            }
            Op::Concat { axis: ax } => {
                let x0 = arg(0)?;
                one(Tensor::cat(a, axis(x0.rank(), *ax)?)?)
            }
            Op::Split { sizes, axis: ax } => {
                let x = arg(0)?;
                let ax = axis(x.rank(), *ax)?;
                let sizes = self.dims_of(sizes, env, x)?;
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for s in sizes {
                    out.push(x.narrow(ax, start, s)?);
                    start += s;
                }
                Ok(out)
            }
            Op::Reshape { shape } => {
                let x = arg(0)?;
                let dims = self.dims_of(shape, env, x)?;
                one(x.reshape(dims)?)
            }
            Op::Transpose { a: i, b: j } => {
                let x = arg(0)?;
                one(x
                    .transpose(axis(x.rank(), *i)?, axis(x.rank(), *j)?)?
                    .contiguous()?)
            }
            Op::Reduce {
                kind,
                axis: ax,
                keepdim,
            } => {
                let x = arg(0)?;
                let ax = axis(x.rank(), *ax)?;
                let r = match (kind, keepdim) {
                    (ReduceKind::Mean, true) => x.mean_keepdim(ax)?,
                    (ReduceKind::Mean, false) => x.mean(ax)?,
                    (ReduceKind::Sum, true) => x.sum_keepdim(ax)?,
                    (ReduceKind::Sum, false) => x.sum(ax)?,
                    (ReduceKind::Max, true) => x.max_keepdim(ax)?,
                    (ReduceKind::Max, false) => x.max(ax)?,
                };
                one(r)
            }
            Op::Select { axis: ax, index } => {
                let x = arg(0)?;
                let ax = axis(x.rank(), *ax)?;
                let n = x.dim(ax)? as i64;
                let i = if *index < 0 { n + index } else { *index };
                if i < 0 || i >= n {
                    return Err(bug(format!("select index {index} out of range {n}")));
                }
                one(x.narrow(ax, i as usize, 1)?.squeeze(ax)?)
            }
            Op::Slice {
                axis: ax,
                start,
                end,
            } => {
                let x = arg(0)?;
                let ax = axis(x.rank(), *ax)?;
                let n = x.dim(ax)? as i64;
                let s = if *start < 0 { n + start } else { *start }.clamp(0, n);
                let e = if *end < 0 { n + end } else { *end }.clamp(s, n);
                one(x.narrow(ax, s as usize, (e - s) as usize)?)
            }
            Op::LastValid => one(last_valid(arg(0)?, arg(1)?)?),
            Op::Pad {
                axis: ax,
                before,
                after,
                value,
            } => one(pad(arg(0)?, *ax, *before, *after, *value)?),
            Op::Binary(op) => one(nn::broadcast_binary(arg(0)?, arg(1)?, *op)?),
            Op::MatMul => one(nn::matmul(arg(0)?, arg(1)?)?),
            Op::Outer => one(nn::outer(arg(0)?, arg(1)?)?),
            Op::Softmax { axis: ax, log } => {
                let x = arg(0)?;
                let ax = axis(x.rank(), *ax)?;
                one(if *log {
                    nn::log_softmax(x, ax)?
                } else {
                    nn::softmax(x, ax)?
                })
            }
            Op::Recurrent {
                cell,
                hidden,
                layers,
                bidirectional,
                merge,
            } => {
                let hidden = self
                    .shapes
                    .eval_fixed(hidden)
                    .ok_or_else(|| bug("recurrent hidden not fixed"))?
                    as usize;
                let cfg = RecurrentConfig {
                    cell: *cell,
                    hidden,
                    layers: *layers as usize,
                    bidirectional: *bidirectional,
                    merge: *merge,
                };
                let out = nn::recurrent(arg(0)?, a.get(1).copied(), &self.param_map(id)?, &cfg)?;
                let mut v = vec![out.seq, out.h];
                v.extend(out.c);
                Ok(v)
            }
            Op::Attention {
                heads,
                dropout,
                causal,
            } => {
                let p = self.param_map(id)?;
                one(nn::attention(
                    arg(0)?,
                    a.get(1).copied(),
                    &p,
                    *heads as usize,
                    *causal,
                    *dropout,
                    mode.rng(),
                )?)
            }
            Op::TransformerLayer {
                heads,
                attn_dropout,
                relu_dropout,
                res_dropout,
                causal,
                ..
            } => {
                let p = self.param_map(id)?;
                let kv = a.get(1).copied();
                let (h, c) = (*heads as usize, *causal);
                one(nn::transformer_layer(
                    arg(0)?,
                    kv,
                    &p,
                    h,
                    c,
                    *attn_dropout,
                    *relu_dropout,
                    *res_dropout,
                    mode.rng(),
                )?)
            }
            Op::Positions => {
                let x = arg(0)?;
                let (t, d) = (x.dim(1)?, x.dim(D::Minus1)?);
                one(nn::positions(t, d, &self.device)?)
            }
            Op::Conv1d {
                stride, padding, ..
            } => {
                let p = self.param_map(id)?;
                let w = p
                    .get("weight")
                    .ok_or_else(|| bug("conv1d without weight"))?;
                one(nn::conv1d(
                    arg(0)?,
                    w,
                    p.get("bias"),
                    *stride as usize,
                    *padding as usize,
                )?)
            }
            Op::Conv2d {
                stride, padding, ..
            } => {
                let p = self.param_map(id)?;
                let w = p
                    .get("weight")
                    .ok_or_else(|| bug("conv2d without weight"))?;
                one(nn::conv2d(
                    arg(0)?,
                    w,
                    p.get("bias"),
                    *stride as usize,
                    *padding as usize,
                )?)
            }
            Op::StopGradient => one(arg(0)?.detach()),
            Op::Decoder { dropout, init, .. } => {
                let w = nn::DecoderWeights::new(&self.param_map(id)?)?;
                let memory = arg(0)?;
                let mask = nn::source_mask_bias(arg(1)?, memory.dim(1)?, memory.dtype())?;
                let state = nn::DecoderState::initial(arg(2)?, *init)?;
                one(nn::teacher_forced(
                    &w,
                    memory,
                    &mask,
                    state,
                    arg(3)?,
                    *dropout,
                    mode.rng(),
                )?)
            }
            Op::Loss(kind) => {
                let x = arg(0)?;
                // A number as target (`bce_with_logits(d_real, 1.0)`) arrives as a scalar constant.
                let y = match (arg(1)?, kind) {
                    (y, LossKind::CrossEntropy) => y.clone(),
                    (y, _) if y.rank() == 0 => y.broadcast_as(x.shape())?,
                    (y, _) => y.clone(),
                };
                let y = &y;
                one(match kind {
                    LossKind::CrossEntropy => nn::cross_entropy(x, y)?,
                    LossKind::BceWithLogits => nn::bce_with_logits(x, &y.to_dtype(x.dtype())?)?,
                    LossKind::Mse => nn::mse(x, &y.to_dtype(x.dtype())?)?,
                    LossKind::L1 => nn::l1(x, &y.to_dtype(x.dtype())?)?,
                    LossKind::NextToken => nn::next_token_cross_entropy(x, y)?,
                })
            }
        }
    }
}

/// `seq [B, T, D]` at step `lengths[b] - 1` of each example -> `[B, D]`.
fn last_valid(seq: &Tensor, lengths: &Tensor) -> Result<Tensor> {
    let (b, t, d) = seq.dims3()?;
    let idx: Vec<u32> = lengths
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|l| (l.clamp(1, t as i64) - 1) as u32)
        .collect();
    let idx = Tensor::from_vec(idx, (b, 1, 1), seq.device())?
        .broadcast_as((b, 1, d))?
        .contiguous()?;
    seq.gather(&idx, 1)?.squeeze(1)
}

/// Pads `before` and `after` entries of `value` along an axis (TFN's constant 1 is `before = 1, value = 1`).
fn pad(x: &Tensor, ax: i64, before: i64, after: i64, value: f64) -> Result<Tensor> {
    let ax = axis(x.rank(), ax)?;
    let mut parts = Vec::with_capacity(3);
    let block = |n: i64| -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        dims[ax] = n as usize;
        Tensor::full(value as f32, dims, x.device())?.to_dtype(x.dtype())
    };
    if before > 0 {
        parts.push(block(before)?);
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(block(after)?);
    }
    Tensor::cat(&parts, ax)
}
