//! Adam / AdamW as one in-place pass over a CPU parameter, its gradient and its two moment buffers.
//!
//! The generic path (`optim::adam_step`) is about ten candle ops per parameter tensor, each reading and writing
//! the whole tensor into a fresh buffer; this kernel reads every element once and writes the parameter in place.
//! It performs exactly the same f32 operations in the same order (candle's `affine` is `x * mul + add` with both
//! constants rounded to f32), so both paths give bit-identical weights and a run can move between them.

use std::cell::RefCell;

use candle_core::{bail, CpuStorage, InplaceOp1, Layout, Result, Tensor, Var};

use crate::nn::fused::host::HostF32;

/// The per-step constants of one update.
#[derive(Clone, Copy, Debug)]
pub struct AdamConsts {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub lr: f64,
    pub weight_decay: f64,
    /// AdamW: decay the parameter instead of adding the L2 term to the gradient.
    pub decoupled: bool,
    /// The parameter's own step count after this update (PyTorch counts per parameter).
    pub step: u64,
}

/// Moment buffers kept on the host for the in-place kernel.
#[derive(Clone, Debug)]
pub struct HostMoments {
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
}

struct AdamUpdate<'a> {
    grad: &'a [f32],
    moments: RefCell<&'a mut HostMoments>,
    /// The moments hold no history yet: the first update takes them from the gradient alone.
    fresh: bool,
    c: AdamConsts,
}

impl InplaceOp1 for AdamUpdate<'_> {
    fn name(&self) -> &'static str {
        "adam-update"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let CpuStorage::F32(all) = storage else {
            bail!("adam-update: the parameter is not f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("adam-update: the parameter is not contiguous");
        };
        let param = &mut all[start..end];
        let mut guard = self.moments.borrow_mut();
        let HostMoments {
            exp_avg,
            exp_avg_sq,
        } = &mut **guard;
        let n = param.len();
        if self.grad.len() != n || exp_avg.len() != n || exp_avg_sq.len() != n {
            bail!("adam-update: parameter, gradient and moments differ in size");
        }
        let c = self.c;
        let k = c.step as i32;
        // Every constant rounded to f32 exactly as candle's affine rounds its arguments.
        let b1 = c.beta1 as f32;
        let one_minus_b1 = (1.0 - c.beta1) as f32;
        let b2 = c.beta2 as f32;
        let one_minus_b2 = (1.0 - c.beta2) as f32;
        let inv_bc2 = (1.0 / (1.0 - c.beta2.powi(k)).sqrt()) as f32;
        let eps = c.eps as f32;
        let step_size = (c.lr / (1.0 - c.beta1.powi(k))) as f32;
        let wd = c.weight_decay as f32;
        let keep = (1.0 - c.lr * c.weight_decay) as f32;
        let (decay_grad, decay_param) = match (c.weight_decay != 0.0, c.decoupled) {
            (false, _) => (false, false),
            (true, false) => (true, false),
            (true, true) => (false, true),
        };
        for i in 0..n {
            let mut p = param[i];
            let mut g = self.grad[i];
            if decay_param {
                p = p * keep + 0.0;
            }
            if decay_grad {
                g += p * wd + 0.0;
            }
            let gm = g * one_minus_b1 + 0.0;
            let m = if self.fresh {
                gm
            } else {
                (exp_avg[i] * b1 + 0.0) + gm
            };
            let g2 = (g * g) * one_minus_b2 + 0.0;
            let v = if self.fresh {
                g2
            } else {
                (exp_avg_sq[i] * b2 + 0.0) + g2
            };
            let denom = v.sqrt() * inv_bc2 + eps;
            let update = (m / denom) * step_size + 0.0;
            param[i] = p - update;
            exp_avg[i] = m;
            exp_avg_sq[i] = v;
        }
        Ok(())
    }
}

/// True when the in-place kernel applies: f32 parameter and gradient, contiguous, on the CPU.
pub fn applies(var: &Var, grad: &Tensor) -> bool {
    HostF32::of(var.as_tensor()).is_some() && HostF32::of(grad).is_some()
}

/// One update of `var` in place. `moments` is `None` before the parameter's first update.
pub fn update(
    var: &Var,
    grad: &Tensor,
    moments: &mut Option<HostMoments>,
    c: AdamConsts,
) -> Result<()> {
    let Some(g) = HostF32::of(grad) else {
        bail!("adam-update: the gradient is not a contiguous f32 CPU tensor");
    };
    let n = var.elem_count();
    let fresh = moments.is_none();
    let m = moments.get_or_insert_with(|| HostMoments {
        exp_avg: vec![0.0; n],
        exp_avg_sq: vec![0.0; n],
    });
    let op = AdamUpdate {
        grad: g.as_slice(),
        moments: RefCell::new(m),
        fresh,
        c,
    };
    var.as_tensor().inplace_op1(&op)
}
