//! The translation loss — next-token cross-entropy over decoder logits, PAD targets ignored — as one candle op
//! with a hand-written backward pass.
//!
//! Written as candle ops it made a dozen passes over the `[B·T, V]` logits (a shifted copy, max, subtract, exp,
//! sum, log, subtract, a one-hot of the targets, its conversion, a product, a sum) and as many again, each with a
//! zero-filled gradient buffer, in the backward pass: a quarter of the translation model's training step went to
//! element-wise passes over the vocabulary. Here the forward pass reads each logit row once for its maximum and
//! once for `Σ exp`, keeps one log-sum-exp per row, and the backward pass writes `softmax − one-hot` once.
//!
//! Same loss as `nn::decoder::next_token_cross_entropy`'s generic path (the reference, tests compare the two):
//! position t scores token t + 1, the sum over non-PAD targets divided by their count (at least 1). Sums run in
//! f64, exponentials in the vectorised `vmath::exp_in_place`.

use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::host;
use super::vmath;
use crate::ir::tokens::PAD;

/// True when [`next_token_nll`] applies: `f32` logits on the CPU.
pub fn supported(logits: &Tensor) -> bool {
    logits.device().is_cpu() && logits.dtype() == candle_core::DType::F32
}

/// `logits [B, T, V]`, `gold [B, T-1]` (the targets shifted by one, already checked to lie in `0..V`) -> the mean
/// negative log-likelihood of the non-PAD targets, a scalar. Differentiable in the logits.
pub fn next_token_nll(logits: &Tensor, gold: Vec<u32>) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    if t < 2 || gold.len() != b * (t - 1) {
        bail!(
            "next_token_nll: {} targets for logits {:?}",
            gold.len(),
            logits.dims()
        );
    }
    let count = gold.iter().filter(|&&g| g != PAD).count().max(1);
    let op = NextTokenNll {
        batch: b,
        time: t,
        vocab: v,
        gold,
        count,
        log_sum_exp: Mutex::new(Vec::new()),
    };
    logits.contiguous()?.apply_op1(op)
}

struct NextTokenNll {
    batch: usize,
    time: usize,
    vocab: usize,
    /// `[B, T-1]`: the token position t must predict.
    gold: Vec<u32>,
    /// Non-PAD targets (at least 1): the mean's divisor.
    count: usize,
    /// `[B, T-1]`: `log Σ_j exp(logit_j)` of each scored row, kept by the forward pass for the backward.
    log_sum_exp: Mutex<Vec<f32>>,
}

impl NextTokenNll {
    /// The logit row of position `t` of example `b`.
    fn row<'a>(&self, logits: &'a [f32], b: usize, t: usize) -> &'a [f32] {
        &logits[(b * self.time + t) * self.vocab..][..self.vocab]
    }
}

/// `log Σ exp(x)`, stable (shifted by the maximum); NaN anywhere gives NaN (the exponentials keep it, so the
/// sum does).
fn log_sum_exp(x: &[f32], buf: &mut [f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (o, &v) in buf.iter_mut().zip(x) {
        *o = v - m;
    }
    vmath::exp_in_place(buf);
    let s: f64 = buf.iter().map(|&e| f64::from(e)).sum();
    m + s.ln() as f32
}

impl CustomOp1 for NextTokenNll {
    fn name(&self) -> &'static str {
        "next-token-nll"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let logits = host::op_slice(s, l, "next_token_nll", "logits")?;
        let mut buf = vec![0f32; self.vocab];
        let mut lse = vec![0f32; self.gold.len()];
        let mut total = 0f64;
        for b in 0..self.batch {
            for t in 0..self.time - 1 {
                let r = b * (self.time - 1) + t;
                let g = self.gold[r];
                if g == PAD {
                    continue;
                }
                let x = self.row(logits, b, t);
                lse[r] = log_sum_exp(x, &mut buf);
                total += f64::from(x[g as usize]) - f64::from(lse[r]);
            }
        }
        if let Ok(mut slot) = self.log_sum_exp.lock() {
            *slot = lse;
        }
        let loss = (-total / self.count as f64) as f32;
        Ok((CpuStorage::F32(vec![loss]), Shape::from(())))
    }

    fn bwd(&self, logits: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let scale = g / self.count as f32;
        let lse = self
            .log_sum_exp
            .lock()
            .map_err(|_| candle_core::Error::Msg("next_token_nll: poisoned tape".into()))?;
        let Some(x) = host::HostF32::of(logits) else {
            bail!("next_token_nll: backward needs contiguous f32 CPU logits");
        };
        let x = x.as_slice();
        // Rows not scored (the last position, PAD targets) keep a zero gradient.
        let mut d = vec![0f32; x.len()];
        for b in 0..self.batch {
            for t in 0..self.time - 1 {
                let r = b * (self.time - 1) + t;
                let gold = self.gold[r];
                if gold == PAD {
                    continue;
                }
                let row = (b * self.time + t) * self.vocab;
                let out = &mut d[row..][..self.vocab];
                for (o, &v) in out.iter_mut().zip(&x[row..][..self.vocab]) {
                    *o = v - lse[r];
                }
                vmath::exp_in_place(out);
                out[gold as usize] -= 1.0;
                for o in out.iter_mut() {
                    *o *= scale;
                }
            }
        }
        Ok(Some(host::tensor(d, logits.dims())?))
    }
}
