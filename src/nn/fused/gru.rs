//! One direction of one GRU layer as a single fused operation with a hand-written backward pass, the GRU
//! counterpart of [`super::lstm`] (same row layout, lengths and buffer discipline).
//!
//! PyTorch's GRU: `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`, `n = tanh(x_n + r·h_n)`, `h' = (1 - z)·n + z·h`, where
//! `x_* = x W_ih*ᵀ + b_ih*` and `h_* = h W_hh*ᵀ + b_hh*`. The hidden bias stays inside `h_n` (it is scaled by r),
//! so the hidden projection of each step is kept apart from the input projection.

use candle_core::Result;

use super::gemm::{gemm, transposed, Mat, MatMut};
use super::lstm::{weight_grads, CellGrads, CellWeights, DirOutput, DirShape};
use super::scratch;
use super::vmath;

/// What the GRU backward pass needs from the forward pass of one direction.
pub struct GruSaved {
    /// `[B·T, 3H]`: r, z, n of every valid step.
    pub gates: Vec<f32>,
    /// `[B·T, H]`: `h_n = h W_hn^T + b_hn` of every valid step (before the product with r).
    pub hidden_n: Vec<f32>,
    /// `[B·T, H]`: the state before each step, in processing order.
    pub prev_h: Vec<f32>,
}

impl Drop for GruSaved {
    fn drop(&mut self) {
        scratch::give_all([
            std::mem::take(&mut self.gates),
            std::mem::take(&mut self.hidden_n),
            std::mem::take(&mut self.prev_h),
        ]);
    }
}

/// Runs one direction; see [`super::lstm::forward`] for the layout. The returned `c` is empty.
/// With `save` false (inference) nothing is kept for a backward pass: the returned [`GruSaved`] is empty.
pub fn forward(
    x: Mat,
    lens: &[usize],
    w: &CellWeights,
    sh: DirShape,
    save: bool,
) -> Result<(DirOutput, GruSaved)> {
    let (b_n, t_n, h_n) = (sh.batch, sh.time, sh.hidden);
    let g_n = 3 * h_n;
    let rows = b_n * t_n;
    let mut gates = scratch::zeroed(rows * g_n);
    for row in gates.chunks_exact_mut(g_n) {
        row.copy_from_slice(w.b_ih);
    }
    gemm(
        &mut MatMut::new(&mut gates, rows, g_n),
        true,
        x,
        Mat::new(w.w_ih, g_n, sh.input).t(),
        1.0,
        true,
    )?;
    // `W_hhᵀ` as a contiguous `[H, 3H]` copy: the per-step products then need no packing (see `transposed`).
    let w_hh_t_buf = transposed(w.w_hh, g_n, h_n);
    let w_hh_t = Mat::new(&w_hh_t_buf, h_n, g_n);
    let mut h = vec![0f32; b_n * h_n];
    let mut gh = vec![0f32; b_n * g_n];
    let mut seq = vec![0f32; rows * h_n];
    let kept = if save { rows * h_n } else { 0 };
    let mut prev_h = scratch::zeroed(kept);
    let mut hidden_n = scratch::zeroed(kept);
    // Without a tape, h_n of one row lives here.
    let mut hidden_row = vec![0f32; if save { 0 } else { h_n }];
    for s in 0..t_n {
        let t = sh.step_time(s);
        for row in gh.chunks_exact_mut(g_n) {
            row.copy_from_slice(w.b_hh);
        }
        if s > 0 {
            gemm(
                &mut MatMut::new(&mut gh, b_n, g_n),
                true,
                Mat::new(&h, b_n, h_n),
                w_hh_t,
                1.0,
                false,
            )?;
        }
        for b in 0..b_n {
            let r = b * t_n + t;
            let hb = &mut h[b * h_n..][..h_n];
            if save {
                prev_h[r * h_n..][..h_n].copy_from_slice(hb);
            }
            if t >= lens[b] {
                continue;
            }
            let g = &mut gates[r * g_n..][..g_n];
            let ghb = &gh[b * g_n..][..g_n];
            for j in 0..2 * h_n {
                g[j] += ghb[j];
            }
            vmath::sigmoid_in_place(&mut g[..2 * h_n]);
            let hn = if save {
                &mut hidden_n[r * h_n..][..h_n]
            } else {
                &mut hidden_row[..]
            };
            hn.copy_from_slice(&ghb[2 * h_n..]);
            let (rz, n) = g.split_at_mut(2 * h_n);
            for j in 0..h_n {
                n[j] += rz[j] * hn[j];
            }
            vmath::tanh_in_place(n);
            let out = &mut seq[r * h_n..][..h_n];
            for j in 0..h_n {
                // h' = n + z·(h - n)
                hb[j] = n[j] + rz[h_n + j] * (hb[j] - n[j]);
                out[j] = hb[j];
            }
        }
    }
    scratch::give(w_hh_t_buf);
    let saved = GruSaved {
        gates: if save {
            gates
        } else {
            scratch::give(gates);
            Vec::new()
        },
        hidden_n,
        prev_h,
    };
    Ok((
        DirOutput {
            seq,
            h,
            c: Vec::new(),
        },
        saved,
    ))
}

/// The backward pass of [`forward`]; arguments as in [`super::lstm::backward`] (no cell state).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: Mat,
    lens: &[usize],
    w: &CellWeights,
    sh: DirShape,
    saved: &GruSaved,
    d_seq: Option<Mat>,
    d_h: Option<&[f32]>,
    d_x: Option<&mut MatMut>,
) -> Result<CellGrads> {
    let (b_n, t_n, h_n) = (sh.batch, sh.time, sh.hidden);
    let g_n = 3 * h_n;
    let rows = b_n * t_n;
    // Gradients of the input-side (dGx) and hidden-side (dGh) pre-activations; they differ only in the n block.
    let mut dgx = scratch::zeroed(rows * g_n);
    let mut dgh = scratch::zeroed(rows * g_n);
    let mut dh = d_h.map_or_else(|| vec![0f32; b_n * h_n], <[f32]>::to_vec);
    let mut tmp = vec![0f32; b_n * h_n];
    let w_hh = Mat::new(w.w_hh, g_n, h_n);
    for s in (0..t_n).rev() {
        let t = sh.step_time(s);
        for b in 0..b_n {
            if t >= lens[b] {
                continue;
            }
            let r = b * t_n + t;
            let dhb = &mut dh[b * h_n..][..h_n];
            if let Some(ds) = &d_seq {
                for (j, d) in dhb.iter_mut().enumerate() {
                    *d += ds.data[r * ds.rs + j * ds.cs];
                }
            }
            let g = &saved.gates[r * g_n..][..g_n];
            let hn = &saved.hidden_n[r * h_n..][..h_n];
            let hp = &saved.prev_h[r * h_n..][..h_n];
            let (gx, gh) = (&mut dgx[r * g_n..][..g_n], &mut dgh[r * g_n..][..g_n]);
            for j in 0..h_n {
                let (rr, z, n) = (g[j], g[h_n + j], g[2 * h_n + j]);
                let d = dhb[j];
                let dn_pre = d * (1.0 - z) * (1.0 - n * n);
                let dz_pre = d * (hp[j] - n) * z * (1.0 - z);
                let dr_pre = dn_pre * hn[j] * rr * (1.0 - rr);
                gx[j] = dr_pre;
                gx[h_n + j] = dz_pre;
                gx[2 * h_n + j] = dn_pre;
                gh[j] = dr_pre;
                gh[h_n + j] = dz_pre;
                gh[2 * h_n + j] = dn_pre * rr;
                // The direct path h' = ... + z·h; the product path is added below.
                dhb[j] = d * z;
            }
        }
        if s == 0 {
            break;
        }
        let dgh_t = Mat {
            data: &dgh[t * g_n..],
            rows: b_n,
            cols: g_n,
            rs: t_n * g_n,
            cs: 1,
        };
        gemm(
            &mut MatMut::new(&mut tmp, b_n, h_n),
            false,
            dgh_t,
            w_hh,
            1.0,
            false,
        )?;
        for b in 0..b_n {
            if t < lens[b] {
                for (d, v) in dh[b * h_n..][..h_n].iter_mut().zip(&tmp[b * h_n..][..h_n]) {
                    *d += v;
                }
            }
        }
    }
    let grads = weight_grads(x, &dgx, &dgh, &saved.prev_h, w.w_ih, sh, g_n, d_x);
    scratch::give_all([dgx, dgh]);
    grads
}
