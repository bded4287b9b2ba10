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
        let consts = Consts {
            b1: c.beta1 as f32,
            one_minus_b1: (1.0 - c.beta1) as f32,
            b2: c.beta2 as f32,
            one_minus_b2: (1.0 - c.beta2) as f32,
            inv_bc2: (1.0 / (1.0 - c.beta2.powi(k)).sqrt()) as f32,
            eps: c.eps as f32,
            step_size: (c.lr / (1.0 - c.beta1.powi(k))) as f32,
            wd: c.weight_decay as f32,
            keep: (1.0 - c.lr * c.weight_decay) as f32,
        };
        let decay = match (c.weight_decay != 0.0, c.decoupled) {
            (false, _) => Decay::None,
            (true, false) => Decay::Gradient,
            (true, true) => Decay::Parameter,
        };
        let bufs = Buffers {
            param,
            grad: self.grad,
            m: exp_avg,
            v: exp_avg_sq,
        };
        update_parallel(bufs, &consts, self.fresh, decay);
        Ok(())
    }
}

/// The update's constants, already rounded to f32.
struct Consts {
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    inv_bc2: f32,
    eps: f32,
    step_size: f32,
    wd: f32,
    keep: f32,
}

#[derive(Clone, Copy)]
enum Decay {
    None,
    /// Adam's L2 term added to the gradient.
    Gradient,
    /// AdamW's decay of the parameter.
    Parameter,
}

struct Buffers<'a> {
    param: &'a mut [f32],
    grad: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

/// Elements below which a tensor is updated on one thread: splitting smaller ones costs more than it saves.
const MIN_PARALLEL_ELEMS: usize = 1 << 15;

/// Runs the update over halves on the rayon pool (the `--threads` pool) for large tensors. Every element's
/// update depends only on its own values, so the split changes no result. PyTorch's per-parameter Adam splits
/// large tensors over its threads the same way (ATen's `parallel_for`); at 2 threads the update was a tenth of
/// GAN-Fusion's step, all of it on one thread.
fn update_parallel(b: Buffers, c: &Consts, fresh: bool, decay: Decay) {
    let n = b.param.len();
    if n < 2 * MIN_PARALLEL_ELEMS || rayon::current_num_threads() < 2 {
        return update_dispatch(b, c, fresh, decay);
    }
    // Halves on 64-byte boundaries of the element index, so both halves keep whole vectors.
    let mid = (n / 2) & !15;
    let (p0, p1) = b.param.split_at_mut(mid);
    let (g0, g1) = b.grad.split_at(mid);
    let (m0, m1) = b.m.split_at_mut(mid);
    let (v0, v1) = b.v.split_at_mut(mid);
    let first = Buffers {
        param: p0,
        grad: g0,
        m: m0,
        v: v0,
    };
    let second = Buffers {
        param: p1,
        grad: g1,
        m: m1,
        v: v1,
    };
    rayon::join(
        || update_parallel(first, c, fresh, decay),
        || update_parallel(second, c, fresh, decay),
    );
}

/// Picks the monomorphised loop (no branch inside it), compiled for AVX2 when the CPU has it.
fn update_dispatch(b: Buffers, c: &Consts, fresh: bool, decay: Decay) {
    macro_rules! go {
        ($fresh:literal, $dg:literal, $dp:literal) => {{
            #[cfg(target_arch = "x86_64")]
            if crate::nn::fused::vmath::has_avx2_fma() {
                // SAFETY: the CPU supports the features `update_avx2` is compiled for.
                unsafe { update_avx2::<$fresh, $dg, $dp>(b, c) };
                return;
            }
            update_loop::<$fresh, $dg, $dp>(b, c)
        }};
    }
    match (fresh, decay) {
        (true, Decay::None) => go!(true, false, false),
        (false, Decay::None) => go!(false, false, false),
        (true, Decay::Gradient) => go!(true, true, false),
        (false, Decay::Gradient) => go!(false, true, false),
        (true, Decay::Parameter) => go!(true, false, true),
        (false, Decay::Parameter) => go!(false, false, true),
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_avx2<const FRESH: bool, const DG: bool, const DP: bool>(b: Buffers, c: &Consts) {
    update_loop::<FRESH, DG, DP>(b, c)
}

/// The element-wise update, in candle's operation order (`x * mul + add` for every affine).
#[inline(always)]
fn update_loop<const FRESH: bool, const DG: bool, const DP: bool>(b: Buffers, c: &Consts) {
    let iter = b
        .param
        .iter_mut()
        .zip(b.grad)
        .zip(b.m.iter_mut())
        .zip(b.v.iter_mut());
    for (((p, &g0), m), v) in iter {
        let mut pv = *p;
        let mut g = g0;
        if DP {
            pv = pv * c.keep + 0.0;
        }
        if DG {
            g += pv * c.wd + 0.0;
        }
        let gm = g * c.one_minus_b1 + 0.0;
        let mn = if FRESH { gm } else { (*m * c.b1 + 0.0) + gm };
        let g2 = (g * g) * c.one_minus_b2 + 0.0;
        let vn = if FRESH { g2 } else { (*v * c.b2 + 0.0) + g2 };
        let denom = vn.sqrt() * c.inv_bc2 + c.eps;
        let update = (mn / denom) * c.step_size + 0.0;
        *p = pv - update;
        *m = mn;
        *v = vn;
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
