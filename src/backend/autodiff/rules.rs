//! The forward and backward rule of every op for [`Network::forward_tape`] / [`Network::backward`]: which ops
//! have a hand-written vector-Jacobian product, which run the fused kernels, and which are traced through
//! candle's autograd. Hand-written rules use candle tensor ops only, so they run on every device.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, Var, D};

use super::{Saved, Tape};
use crate::backend::exec::Mode;
use crate::backend::Network;
use crate::ir::{
    Activation, BatchNorm, BinaryOp, Concat, Dropout, LayerNorm, LossKind, NodeId, Op, Pad,
    Recurrent, Reduce, ReduceKind, Select, Slice, Softmax, Split, Transpose, Value,
};
use crate::nn::fused::dense;
use crate::nn::fused::recurrent as fused_rnn;
use crate::nn::fused::transformer as fused_tf;
use crate::nn::{self, ParamMap, RecurrentConfig, RecurrentParams, TransformerParams};
use crate::rng::SeededRng;

/// How an op is differentiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// No operand influences the outputs differentiably (inputs, constants, `stop_gradient`, positions).
    NoGrad,
    /// A hand-written backward rule over the operands and outputs.
    Manual,
    /// Dropout: the mask is kept for the backward rule.
    Dropout,
    /// The fused recurrent kernels (falls back to tracing off the CPU or for other dtypes).
    Recurrent,
    /// Layer and batch normalisation: `x̂` and the inverse deviation are kept.
    Norm,
    /// The fused transformer layer (falls back to tracing off the CPU or for other dtypes).
    Transformer,
    /// Forward under candle's autograd on local leaves; backward differentiates that local graph.
    Traced,
}

fn rule(op: &Op, args: &[Tensor]) -> Rule {
    match op {
        Op::Input(_) | Op::Scalar(_) | Op::Positions(_) | Op::StopGradient(_) => Rule::NoGrad,
        Op::Param(_)
        | Op::Linear(_)
        | Op::Noise(_)
        | Op::Concat(_)
        | Op::Split(_)
        | Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Select(_)
        | Op::Slice(_)
        | Op::Pad(_)
        | Op::Binary(_)
        | Op::Outer(_)
        | Op::Softmax(_) => Rule::Manual,
        Op::Act(Activation::Gelu { .. }) => Rule::Traced,
        Op::Act(_) => Rule::Manual,
        Op::Reduce(Reduce {
            kind: ReduceKind::Mean | ReduceKind::Sum,
            ..
        }) => Rule::Manual,
        Op::Reduce(Reduce {
            kind: ReduceKind::Max,
            ..
        }) => Rule::Traced,
        // Vector operands change the product's rank; only the matrix form has a hand-written rule.
        Op::MatMul(_) if args.iter().all(|a| a.rank() >= 2) => Rule::Manual,
        Op::MatMul(_) => Rule::Traced,
        Op::Loss(LossKind::NextToken) => Rule::Traced,
        Op::Loss(_) => Rule::Manual,
        Op::Dropout(_) => Rule::Dropout,
        Op::Recurrent(_) => Rule::Recurrent,
        Op::LayerNorm(_) | Op::BatchNorm(_) => Rule::Norm,
        Op::TransformerLayer(_) => Rule::Transformer,
        Op::Embedding(_)
        | Op::LastValid(_)
        | Op::Attention(_)
        | Op::Conv1d(_)
        | Op::Conv2d(_)
        | Op::Decoder(_) => Rule::Traced,
    }
}

fn bug(msg: impl Into<String>) -> candle_core::Error {
    candle_core::Error::Msg(format!("internal: {}", msg.into()))
}

fn detach_all(ts: Vec<Tensor>) -> Vec<Tensor> {
    ts.into_iter().map(|t| t.detach()).collect()
}

impl Network {
    /// The parameters of a node as plain tensors (no autograd tracking).
    fn detached_params(&self, id: NodeId) -> Result<ParamMap> {
        Ok(self
            .param_map(id)?
            .into_iter()
            .map(|(k, v)| (k, v.detach()))
            .collect())
    }

    pub(in crate::backend) fn recurrent_config(&self, op: &Op) -> Result<RecurrentConfig> {
        let Op::Recurrent(Recurrent {
            cell,
            hidden,
            layers,
            bidirectional,
            merge,
        }) = op
        else {
            return Err(bug("recurrent config of another op"));
        };
        let hidden = self
            .shapes
            .eval_fixed(hidden)
            .ok_or_else(|| bug("recurrent hidden not fixed"))? as usize;
        Ok(RecurrentConfig {
            cell: *cell,
            hidden,
            layers: *layers as usize,
            bidirectional: *bidirectional,
            merge: *merge,
        })
    }

    /// One node's training forward pass: its outputs (untracked) and what its backward rule needs.
    pub(super) fn forward_rule(
        &self,
        id: NodeId,
        args: &[Tensor],
        needs: &[bool],
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
        rng: &mut SeededRng,
    ) -> Result<(Vec<Tensor>, Saved)> {
        let op = &self.model.graph.node(id).op;
        let refs: Vec<&Tensor> = args.iter().collect();
        let plain = |net: &Network, rng: &mut SeededRng| -> Result<(Vec<Tensor>, Saved)> {
            let outs = net.run_node(id, &refs, inputs, env, &mut Mode::Train(rng))?;
            Ok((detach_all(outs), Saved::Plain))
        };
        match rule(op, args) {
            Rule::Manual if matches!(op, Op::Linear(_)) => {
                let p = self.detached_params(id)?;
                let (Some(x), Some(w)) = (args.first(), p.get("weight")) else {
                    return Err(bug("linear without input or weight"));
                };
                let b = p.get("bias");
                if dense::supported(&[x, w]) && b.is_none_or(|b| dense::supported(&[b])) {
                    Ok((vec![dense::linear_forward(x, w, b)?], Saved::Plain))
                } else {
                    plain(self, rng)
                }
            }
            Rule::NoGrad | Rule::Manual => plain(self, rng),
            Rule::Dropout => {
                let (Op::Dropout(Dropout { p }), Some(x)) = (op, args.first()) else {
                    return Err(bug("dropout without operand"));
                };
                if *p <= 0.0 {
                    return Ok((vec![x.clone()], Saved::Plain));
                }
                if *p >= 1.0 {
                    // `nn::dropout` draws nothing when everything is dropped.
                    let zeros = x.zeros_like()?;
                    return Ok((vec![zeros.clone()], Saved::Mask(zeros)));
                }
                let mask = nn::dropout_mask(x, *p, rng)?;
                Ok((vec![x.mul(&mask)?], Saved::Mask(mask)))
            }
            Rule::Recurrent => {
                let cfg = self.recurrent_config(op)?;
                let params = RecurrentParams::from_map(
                    &self.detached_params(id)?,
                    cfg.layers,
                    cfg.bidirectional,
                )?;
                match args.first() {
                    Some(x) if fused_rnn::supported(x, &params) => {
                        let (out, tape) = fused_rnn::forward(x, args.get(1), &params, &cfg)?;
                        let mut outs = vec![out.seq, out.h];
                        outs.extend(out.c);
                        Ok((outs, Saved::Recurrent(Box::new(tape))))
                    }
                    _ => self.traced_forward(id, args, needs, inputs, env, rng),
                }
            }
            Rule::Norm => {
                let p = self.detached_params(id)?;
                let (Some(x), Some(w), Some(b)) = (args.first(), p.get("weight"), p.get("bias"))
                else {
                    return Err(bug("normalisation without input or parameters"));
                };
                let (y, xhat, rstd) = match op {
                    Op::LayerNorm(LayerNorm { eps }) => nn::layer_norm_parts(x, w, b, *eps)?,
                    Op::BatchNorm(BatchNorm { eps, momentum }) => {
                        let vars = self.node_vars(id)?;
                        let (Some(rm), Some(rv)) =
                            (vars.get("running_mean"), vars.get("running_var"))
                        else {
                            return Err(bug("batch norm without running statistics"));
                        };
                        if x.rank() == 2 && dense::supported(&[x, w, b]) {
                            let parts = dense::batch_norm_2d(x, w, b, *eps)?;
                            let c = parts.mean.len();
                            let mean = Tensor::from_vec(parts.mean, c, x.device())?;
                            let var = Tensor::from_vec(parts.var, c, x.device())?;
                            nn::update_running_stats(rm, rv, &mean, &var, x.dim(0)?, *momentum)?;
                            (parts.y, parts.xhat, parts.rstd)
                        } else {
                            nn::batch_norm_train_parts(x, w, b, rm, rv, *eps, *momentum)?
                        }
                    }
                    _ => return Err(bug("norm rule of another op")),
                };
                Ok((vec![y], Saved::Norm { xhat, rstd }))
            }
            Rule::Transformer => {
                let params = TransformerParams::from_map(&self.detached_params(id)?)?;
                let (Op::TransformerLayer(layer), Some(x)) = (op, args.first()) else {
                    return Err(bug("transformer layer without input"));
                };
                let kv = args.get(1);
                if fused_tf::supported(x, kv, &params) {
                    let (y, tape) =
                        fused_tf::forward(x, kv, &params, layer_config(layer), Some(rng))?;
                    Ok((vec![y], Saved::Transformer(Box::new(tape))))
                } else {
                    self.traced_forward(id, args, needs, inputs, env, rng)
                }
            }
            Rule::Traced => {
                let has_params = self.node_params.get(&id).is_some_and(|p| !p.is_empty());
                if needs.iter().any(|n| *n) || has_params {
                    self.traced_forward(id, args, needs, inputs, env, rng)
                } else {
                    plain(self, rng)
                }
            }
        }
    }

    fn traced_forward(
        &self,
        id: NodeId,
        args: &[Tensor],
        needs: &[bool],
        inputs: &HashMap<String, Tensor>,
        env: &HashMap<String, i64>,
        rng: &mut SeededRng,
    ) -> Result<(Vec<Tensor>, Saved)> {
        let leaves: Vec<Option<Var>> = args
            .iter()
            .zip(needs)
            .map(|(a, need)| {
                if *need && a.dtype().is_float() {
                    Var::from_tensor(a).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<_>>()?;
        let local: Vec<Tensor> = args
            .iter()
            .zip(&leaves)
            .map(|(a, l)| {
                l.as_ref()
                    .map_or_else(|| a.clone(), |v| v.as_tensor().clone())
            })
            .collect();
        let refs: Vec<&Tensor> = local.iter().collect();
        let outputs = self.run_node(id, &refs, inputs, env, &mut Mode::Train(rng))?;
        let values = outputs.iter().map(|t| t.detach()).collect();
        Ok((values, Saved::Traced { leaves, outputs }))
    }

    /// One node's backward rule: gradients for the operands flagged in `need` and, with `want_params`, for the
    /// node's parameters (by suffix).
    #[allow(clippy::type_complexity)]
    pub(super) fn backward_rule(
        &self,
        id: NodeId,
        tape: &Tape,
        saved: &Saved,
        g_out: &[Option<Tensor>],
        need: &[bool],
        want_params: bool,
    ) -> Result<(Vec<Option<Tensor>>, Vec<(String, Tensor)>)> {
        let op = &self.model.graph.node(id).op;
        let args: Vec<Tensor> = match tape.cast_args.get(&id) {
            Some(cast) => cast.clone(),
            None => self.operands[&id]
                .iter()
                .map(|v| tape.get(*v).cloned())
                .collect::<Result<_>>()?,
        };
        let n_out = op.n_outputs();
        let mut outs: Vec<Tensor> = (0..n_out)
            .map(|p| tape.get(Value::new(id, p as u16)).cloned())
            .collect::<Result<_>>()?;
        // Under mixed precision a node's outputs were cast to the network's dtype after it computed; its rule
        // works in the dtype it computed in (that of its float operands).
        let g_cast: Vec<Option<Tensor>>;
        let g_out = if let Some(dtype) = args
            .iter()
            .find(|a| a.dtype().is_float())
            .map(|a| a.dtype())
        {
            let recast = |t: &Tensor| -> Result<Tensor> {
                if t.dtype().is_float() && t.dtype() != dtype {
                    t.to_dtype(dtype)
                } else {
                    Ok(t.clone())
                }
            };
            if outs
                .iter()
                .chain(g_out.iter().flatten())
                .any(|t| t.dtype().is_float() && t.dtype() != dtype)
            {
                outs = outs.iter().map(recast).collect::<Result<_>>()?;
                g_cast = g_out
                    .iter()
                    .map(|g| g.as_ref().map(recast).transpose())
                    .collect::<Result<_>>()?;
                &g_cast[..]
            } else {
                g_out
            }
        } else {
            g_out
        };
        match saved {
            Saved::Traced { leaves, outputs } => {
                self.traced_backward(id, leaves, outputs, g_out, want_params)
            }
            Saved::Recurrent(rt) => {
                let cfg = self.recurrent_config(op)?;
                let params = RecurrentParams::from_map(
                    &self.detached_params(id)?,
                    cfg.layers,
                    cfg.bidirectional,
                )?;
                let grads = fused_rnn::OutputGrads {
                    seq: g_out.first().and_then(Option::as_ref),
                    h: g_out.get(1).and_then(Option::as_ref),
                    c: g_out.get(2).and_then(Option::as_ref),
                };
                let need_dx = need.first().copied().unwrap_or(false);
                let (dx, pg) = fused_rnn::backward(rt, &params, grads, need_dx)?;
                let mut d = vec![None; args.len()];
                if let Some(slot) = d.first_mut() {
                    *slot = dx;
                }
                Ok((d, if want_params { pg } else { Vec::new() }))
            }
            Saved::Norm { xhat, rstd } => {
                let g = g_out
                    .first()
                    .and_then(Option::as_ref)
                    .ok_or_else(|| bug("no gradient"))?;
                let p = self.detached_params(id)?;
                let w = p.get("weight").ok_or_else(|| bug("norm weight"))?;
                let (dx, dw, db) = match op {
                    Op::LayerNorm(_) => nn::layer_norm_backward(g, xhat, rstd, w)?,
                    _ if xhat.rank() == 2 && dense::supported(&[g, xhat, rstd, w]) => {
                        dense::batch_norm_2d_backward(g, xhat, rstd, w)?
                    }
                    _ => nn::batch_norm_backward(g, xhat, rstd, w)?,
                };
                let dp = if want_params {
                    vec![("weight".to_string(), dw), ("bias".to_string(), db)]
                } else {
                    Vec::new()
                };
                Ok((
                    vec![need.first().copied().unwrap_or(false).then_some(dx)],
                    dp,
                ))
            }
            Saved::Transformer(tape) => {
                let g = g_out
                    .first()
                    .and_then(Option::as_ref)
                    .ok_or_else(|| bug("no gradient"))?;
                let grads = fused_tf::backward(tape, g)?;
                let mut d = vec![Some(grads.dx)];
                if args.len() > 1 {
                    d.push(grads.dkv);
                }
                Ok((
                    d,
                    if want_params {
                        grads.params
                    } else {
                        Vec::new()
                    },
                ))
            }
            Saved::Mask(mask) => {
                let g = g_out
                    .first()
                    .and_then(Option::as_ref)
                    .ok_or_else(|| bug("no gradient"))?;
                Ok((vec![Some(g.mul(mask)?)], Vec::new()))
            }
            Saved::Plain => {
                let g0 = g_out.first().and_then(Option::as_ref);
                self.manual_backward(id, op, &args, &outs, g0, g_out, need, want_params)
            }
        }
    }

    fn traced_backward(
        &self,
        id: NodeId,
        leaves: &[Option<Var>],
        outputs: &[Tensor],
        g_out: &[Option<Tensor>],
        want_params: bool,
    ) -> Result<(Vec<Option<Tensor>>, Vec<(String, Tensor)>)> {
        let mut total: Option<Tensor> = None;
        for (out, g) in outputs.iter().zip(g_out) {
            let Some(g) = g else { continue };
            let term = out.mul(&g.to_dtype(out.dtype())?)?.sum_all()?;
            total = Some(match total {
                None => term,
                Some(t) => t.add(&term)?,
            });
        }
        let Some(total) = total else {
            return Ok((vec![None; leaves.len()], Vec::new()));
        };
        let store = total.backward()?;
        let d_operands = leaves
            .iter()
            .map(|l| l.as_ref().and_then(|v| store.get(v.as_tensor()).cloned()))
            .collect();
        let mut d_params = Vec::new();
        if want_params {
            for (suffix, full) in self.node_params.get(&id).into_iter().flatten() {
                if let Some(var) = self.params.get(full) {
                    if let Some(g) = store.get(var.as_tensor()) {
                        d_params.push((suffix.clone(), g.clone()));
                    }
                }
            }
        }
        Ok((d_operands, d_params))
    }

    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn manual_backward(
        &self,
        id: NodeId,
        op: &Op,
        args: &[Tensor],
        outs: &[Tensor],
        g0: Option<&Tensor>,
        g_out: &[Option<Tensor>],
        need: &[bool],
        want_params: bool,
    ) -> Result<(Vec<Option<Tensor>>, Vec<(String, Tensor)>)> {
        let n_args = args.len();
        let none = || vec![None; n_args];
        let want = |i: usize| need.get(i).copied().unwrap_or(false);
        let g = || g0.ok_or_else(|| bug(format!("{} has no output gradient", op.name())));
        let arg = |i: usize| args.get(i).ok_or_else(|| bug("missing operand"));
        let one = |d: Tensor| {
            let mut v = vec![None; n_args];
            v[0] = Some(d);
            v
        };
        match op {
            Op::Param(_) => Ok((Vec::new(), vec![(String::new(), g()?.clone())])),
            Op::Linear(_) => {
                let (w, has_bias) = {
                    let p = self.detached_params(id)?;
                    let w = p
                        .get("weight")
                        .cloned()
                        .ok_or_else(|| bug("linear weight"))?;
                    (w, p.contains_key("bias"))
                };
                let (x, g) = (arg(0)?, g()?);
                if dense::supported(&[x, &w, g]) {
                    let (dx, params) =
                        dense::linear_backward(x, &w, g, want(0), want_params, has_bias)?;
                    let mut d = none();
                    d[0] = dx;
                    let mut dp = Vec::new();
                    if let Some((dw, db)) = params {
                        dp.push(("weight".to_string(), dw));
                        if let Some(db) = db {
                            dp.push(("bias".to_string(), db));
                        }
                    }
                    return Ok((d, dp));
                }
                let (out_f, in_f) = w.dims2()?;
                let rows = x.elem_count() / in_f.max(1);
                let g2 = g.reshape((rows, out_f))?;
                let mut d = none();
                if want(0) {
                    d[0] = Some(g2.matmul(&w)?.reshape(x.dims())?);
                }
                let mut dp = Vec::new();
                if want_params {
                    let x2 = x.reshape((rows, in_f))?;
                    dp.push(("weight".to_string(), g2.t()?.matmul(&x2)?));
                    if has_bias {
                        dp.push(("bias".to_string(), sum_leading_axes(&g2, 0)?.squeeze(0)?));
                    }
                }
                Ok((d, dp))
            }
            Op::Act(act) => {
                let (x, y, g) = (arg(0)?, &outs[0], g()?);
                let d = match act {
                    Activation::Identity => g.clone(),
                    Activation::Relu => y.gt(0.0)?.to_dtype(g.dtype())?.mul(g)?,
                    Activation::Tanh => g.mul(&y.sqr()?.affine(-1.0, 1.0)?)?,
                    Activation::Sigmoid => g.mul(&y.mul(&y.affine(-1.0, 1.0)?)?)?,
                    Activation::LeakyRelu { slope } => {
                        let factor = x
                            .gt(0.0)?
                            .to_dtype(g.dtype())?
                            .affine(1.0 - slope, *slope)?;
                        g.mul(&factor)?
                    }
                    Activation::Gelu { .. } => return Err(bug("gelu is traced")),
                };
                Ok((one(d), Vec::new()))
            }
            Op::Noise(_) => Ok((one(g()?.clone()), Vec::new())),
            Op::Concat(Concat { axis }) => {
                let g = g()?;
                let ax = norm_axis(g.rank(), *axis)?;
                let mut start = 0;
                let mut d = Vec::with_capacity(n_args);
                for (i, a) in args.iter().enumerate() {
                    let len = a.dim(ax)?;
                    d.push(if want(i) {
                        Some(g.narrow(ax, start, len)?)
                    } else {
                        None
                    });
                    start += len;
                }
                Ok((d, Vec::new()))
            }
            Op::Split(Split { axis, .. }) => {
                let x = arg(0)?;
                let ax = norm_axis(x.rank(), *axis)?;
                let parts: Vec<Tensor> = outs
                    .iter()
                    .zip(g_out)
                    .map(|(o, g)| match g {
                        Some(g) => Ok(g.clone()),
                        None => o.zeros_like(),
                    })
                    .collect::<Result<_>>()?;
                Ok((one(Tensor::cat(&parts, ax)?), Vec::new()))
            }
            Op::Reshape(_) => Ok((one(g()?.reshape(arg(0)?.dims())?), Vec::new())),
            Op::Transpose(Transpose { a, b }) => {
                let g = g()?;
                let (i, j) = (norm_axis(g.rank(), *a)?, norm_axis(g.rank(), *b)?);
                Ok((one(g.transpose(i, j)?.contiguous()?), Vec::new()))
            }
            Op::Reduce(Reduce {
                kind,
                axis,
                keepdim,
            }) => {
                let (x, g) = (arg(0)?, g()?);
                let ax = norm_axis(x.rank(), *axis)?;
                let g = if *keepdim {
                    g.clone()
                } else {
                    g.unsqueeze(ax)?
                };
                let g = g.broadcast_as(x.dims())?;
                let d = match kind {
                    ReduceKind::Mean => g.affine(1.0 / x.dim(ax)? as f64, 0.0)?,
                    ReduceKind::Sum => g.contiguous()?,
                    ReduceKind::Max => return Err(bug("max is traced")),
                };
                Ok((one(d), Vec::new()))
            }
            Op::Select(Select { axis, index }) => {
                let (x, g) = (arg(0)?, g()?);
                let ax = norm_axis(x.rank(), *axis)?;
                let n = x.dim(ax)? as i64;
                let i = if *index < 0 { n + index } else { *index };
                let d = embed_along(&g.unsqueeze(ax)?, x.dims(), ax, i.clamp(0, n) as usize)?;
                Ok((one(d), Vec::new()))
            }
            Op::Slice(Slice { axis, start, end }) => {
                let (x, g) = (arg(0)?, g()?);
                let ax = norm_axis(x.rank(), *axis)?;
                let n = x.dim(ax)? as i64;
                let s = if *start < 0 { n + start } else { *start }.clamp(0, n);
                let _ = end;
                let d = embed_along(g, x.dims(), ax, s as usize)?;
                Ok((one(d), Vec::new()))
            }
            Op::Pad(Pad { axis, before, .. }) => {
                let (x, g) = (arg(0)?, g()?);
                let ax = norm_axis(x.rank(), *axis)?;
                let d = g.narrow(ax, (*before).max(0) as usize, x.dim(ax)?)?;
                Ok((one(d), Vec::new()))
            }
            Op::Binary(b) => {
                let (x, y, g) = (arg(0)?, arg(1)?, g()?);
                let (dx, dy) = match b {
                    BinaryOp::Add => (g.clone(), g.clone()),
                    BinaryOp::Sub => (g.clone(), g.neg()?),
                    BinaryOp::Mul => (g.broadcast_mul(y)?, g.broadcast_mul(x)?),
                    BinaryOp::Div => {
                        let dx = g.broadcast_div(y)?;
                        let dy = dx.broadcast_mul(&outs[0])?.neg()?;
                        (dx, dy)
                    }
                };
                let d = vec![
                    if want(0) {
                        Some(sum_to(&dx, x.dims())?)
                    } else {
                        None
                    },
                    if want(1) {
                        Some(sum_to(&dy, y.dims())?)
                    } else {
                        None
                    },
                ];
                Ok((d, Vec::new()))
            }
            Op::MatMul(_) => {
                let (a, b, g) = (arg(0)?, arg(1)?, g()?);
                let mut d = none();
                if want(0) {
                    let bt = b.transpose(D::Minus1, D::Minus2)?.contiguous()?;
                    d[0] = Some(sum_to(&g.broadcast_matmul(&bt)?, a.dims())?);
                }
                if want(1) {
                    let at = a.transpose(D::Minus1, D::Minus2)?.contiguous()?;
                    d[1] = Some(sum_to(&at.broadcast_matmul(g)?, b.dims())?);
                }
                Ok((d, Vec::new()))
            }
            Op::Outer(_) => {
                let (a, b, g) = (arg(0)?, arg(1)?, g()?);
                let (batch, m) = a.dims2()?;
                let n = b.dim(1)?;
                let g3 = g.reshape((batch, m, n))?;
                let mut d = none();
                if want(0) {
                    d[0] = Some(g3.matmul(&b.unsqueeze(2)?)?.squeeze(2)?);
                }
                if want(1) {
                    d[1] = Some(a.unsqueeze(1)?.matmul(&g3)?.squeeze(1)?);
                }
                Ok((d, Vec::new()))
            }
            Op::Softmax(Softmax { axis, log }) => {
                let (y, g) = (&outs[0], g()?);
                let ax = norm_axis(y.rank(), *axis)?;
                let d = if *log {
                    g.broadcast_sub(&y.exp()?.broadcast_mul(&g.sum_keepdim(ax)?)?)?
                } else {
                    let dot = g.mul(y)?.sum_keepdim(ax)?;
                    y.mul(&g.broadcast_sub(&dot)?)?
                };
                Ok((one(d), Vec::new()))
            }
            Op::Loss(kind) => {
                let d = loss_backward(*kind, arg(0)?, arg(1)?, g()?, want(1))?;
                Ok((d, Vec::new()))
            }
            other => Err(bug(format!(
                "no hand-written backward rule for {}",
                other.name()
            ))),
        }
    }
}

/// The fused kernel's view of a transformer layer's attributes.
pub(in crate::backend) fn layer_config(l: &crate::ir::TransformerLayer) -> fused_tf::LayerConfig {
    fused_tf::LayerConfig {
        heads: l.heads as usize,
        causal: l.causal,
        attn_dropout: l.attn_dropout,
        relu_dropout: l.relu_dropout,
        res_dropout: l.res_dropout,
    }
}

fn norm_axis(rank: usize, a: i64) -> Result<usize> {
    let r = rank as i64;
    let ax = if a < 0 { r + a } else { a };
    if ax < 0 || ax >= r.max(1) {
        return Err(bug(format!("axis {a} out of range for rank {rank}")));
    }
    Ok(ax as usize)
}

/// Sums a broadcast gradient back to an operand's shape (NumPy broadcasting, dims aligned from the right).
pub(crate) fn sum_to(g: &Tensor, dims: &[usize]) -> Result<Tensor> {
    if g.dims() == dims {
        return Ok(g.clone());
    }
    let mut t = g.clone();
    while t.rank() > dims.len() {
        t = sum_leading_axes(&t, 0)?.squeeze(0)?;
    }
    for (i, &d) in dims.iter().enumerate() {
        if d == 1 && t.dim(i)? != 1 {
            t = sum_leading_axes(&t, i)?;
        }
    }
    t.reshape(dims)
}

/// `t.sum_keepdim(axis)`. When every axis before `axis` has size 1 and `t` is a contiguous f32 CPU tensor, the
/// sum is a column sum over `[dim(axis), rest]` (`nn::fused::lstm::column_sums`), in the order candle's strided
/// reduction adds (row by row, from 0): the same bits without candle's per-element index arithmetic, which made
/// these broadcast gradients (biases, LMF's factors) 40% of an mfeat LMF training step.
fn sum_leading_axes(t: &Tensor, axis: usize) -> Result<Tensor> {
    let dims = t.dims();
    if dims[..axis].iter().all(|&d| d == 1) {
        if let Some(host) = crate::nn::fused::host::HostF32::of(t) {
            let rest: usize = dims[axis + 1..].iter().product();
            if rest > 0 {
                let sums = crate::nn::fused::lstm::column_sums(host.as_slice(), rest);
                let mut shape = dims.to_vec();
                shape[axis] = 1;
                return Tensor::from_vec(sums, shape, t.device());
            }
        }
    }
    t.sum_keepdim(axis)
}

/// A zero tensor of `dims` with `g` placed at offset `start` along `axis` (the backward of a slice).
fn embed_along(g: &Tensor, dims: &[usize], axis: usize, start: usize) -> Result<Tensor> {
    let len = g.dim(axis)?;
    let total = dims[axis];
    let mut parts = Vec::with_capacity(3);
    let zeros = |n: usize| -> Result<Tensor> {
        let mut d = dims.to_vec();
        d[axis] = n;
        Tensor::zeros(d, g.dtype(), g.device())
    };
    if start > 0 {
        parts.push(zeros(start)?);
    }
    parts.push(g.clone());
    let after = total.saturating_sub(start + len);
    if after > 0 {
        parts.push(zeros(after)?);
    }
    Tensor::cat(&parts, axis)
}

/// Gradients of the mean-reduced losses with respect to the prediction (and the target, when `want_target`).
fn loss_backward(
    kind: LossKind,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    want_target: bool,
) -> Result<Vec<Option<Tensor>>> {
    let n = x.elem_count().max(1) as f64;
    let y_b = |y: &Tensor| -> Result<Tensor> {
        let y = y.to_dtype(x.dtype())?;
        if y.rank() == 0 {
            y.broadcast_as(x.shape())
        } else {
            Ok(y)
        }
    };
    let scale = |t: Tensor, k: f64| -> Result<Tensor> { t.affine(k, 0.0)?.broadcast_mul(g) };
    match kind {
        LossKind::CrossEntropy => {
            let classes = x.dim(D::Minus1)?;
            let rows = x.elem_count() / classes.max(1);
            let p = nn::softmax(&x.reshape((rows, classes))?, 1)?;
            let labels = y.flatten_all()?.to_dtype(DType::I64)?;
            let classes_row = Tensor::arange(0i64, classes as i64, x.device())?.unsqueeze(0)?;
            let one_hot = labels
                .unsqueeze(1)?
                .broadcast_eq(&classes_row)?
                .to_dtype(x.dtype())?;
            let d = scale(p.sub(&one_hot)?, 1.0 / rows.max(1) as f64)?;
            Ok(vec![Some(d.reshape(x.dims())?), None])
        }
        LossKind::BceWithLogits => {
            let t = y_b(y)?;
            let dx = scale(candle_nn::ops::sigmoid(x)?.sub(&t)?, 1.0 / n)?;
            let dy = if want_target {
                Some(sum_to(&scale(x.neg()?, 1.0 / n)?, y.dims())?)
            } else {
                None
            };
            Ok(vec![Some(dx), dy])
        }
        LossKind::Mse => {
            let diff = x.broadcast_sub(&y.to_dtype(x.dtype())?)?;
            let dx = scale(diff, 2.0 / n)?;
            let dy = if want_target {
                Some(sum_to(&dx.neg()?, y.dims())?)
            } else {
                None
            };
            Ok(vec![Some(dx), dy])
        }
        LossKind::L1 => {
            let diff = x.broadcast_sub(&y.to_dtype(x.dtype())?)?;
            let dx = scale(diff.sign()?, 1.0 / n)?;
            let dy = if want_target {
                Some(sum_to(&dx.neg()?, y.dims())?)
            } else {
                None
            };
            Ok(vec![Some(dx), dy])
        }
        LossKind::NextToken => Err(bug("next-token loss is traced")),
    }
}
