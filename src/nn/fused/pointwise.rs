//! `tanh` and row-wise `log_softmax` (in place) on `f32` CPU tensors with the vectorised `vmath` functions, for the
//! attention decoder's readout and decoding steps.
//!
//! candle's CPU `tanh` and `exp` call libm once per element (about 10-20 ns each). A beam-5 decoding step over
//! 128 sentences takes the log-softmax of a `[640, V]` logit matrix: with libm exponentials and the five passes
//! of the generic form (max, subtract, exp, sum, log, subtract) that cost as much as the step's matrix products.
//! Here it is one pass for the maximum and one for `Σ exp` (summed in f64) per row, and the output is written once.
//! `tanh` keeps candle's backward rule (`1 − y²` from the result), so it can sit in a differentiated graph.

use candle_core::{
    backend::BackendStorage, bail, CpuStorage, CustomOp1, InplaceOp1, Layout, Result, Shape, Tensor,
};

use super::vmath;

/// True when the fused forms apply: an `f32` tensor on the CPU.
pub fn supported(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// `tanh(x)` element-wise; differentiable.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Tanh)
}

/// `log_softmax` over the last dimension, written over `x` (decoding only: not differentiable). `x` must be a
/// buffer no other live tensor reads, such as the fresh output of the step's last layer.
pub fn log_softmax_last_in_place(x: &Tensor) -> Result<()> {
    x.inplace_op1(&LogSoftmaxLast)
}

struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "tanh-vmath"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = super::host::op_slice(s, l, "tanh", "the operand")?.to_vec();
        vmath::tanh_in_place(&mut out);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d tanh(x) = 1 − tanh(x)², from the result as candle's own rule does.
        let d = y.sqr()?.affine(-1.0, 1.0)?;
        Ok(Some(grad.mul(&d)?))
    }
}

struct LogSoftmaxLast;

impl InplaceOp1 for LogSoftmaxLast {
    fn name(&self) -> &'static str {
        "log-softmax-vmath"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
        let Some((start, end)) = l.contiguous_offsets() else {
            bail!("log_softmax: the operand must be contiguous");
        };
        let CpuStorage::F32(all) = s else {
            bail!("log_softmax: the operand must be f32, got {:?}", s.dtype());
        };
        let width = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut e = [0f32; 256];
        for row in all[start..end].chunks_exact_mut(width) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f64;
            for chunk in row.chunks_mut(256) {
                for (c, ev) in chunk.iter_mut().zip(e.iter_mut()) {
                    *c -= m;
                    *ev = *c;
                }
                let e = &mut e[..chunk.len()];
                vmath::exp_in_place(e);
                sum += e.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            let log_sum = sum.ln() as f32;
            for d in row.iter_mut() {
                *d -= log_sum;
            }
        }
        Ok(())
    }
}
