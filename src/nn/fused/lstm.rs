//! One direction of one LSTM layer as a single fused operation with a hand-written backward pass (BPTT).
//!
//! Forward: the input projection of every step is one product into a `[B·T, 4H]` gate buffer (biases preloaded);
//! each step adds `h W_hhᵀ` into its rows with one accumulating product and applies the gate math in one pass
//! (vectorised sigmoid/tanh). What the backward pass needs (activated gates, the state before each step,
//! `tanh(c)`) is written into buffers allocated once per call. Backward: one pass per step for the gate
//! gradients and one product `dG W_hh` for the state gradient; the weight gradients are then single products over
//! all steps at once (`dGᵀ X`, `dGᵀ H_prev`), never one per step.
//!
//! Rows are indexed `b·T + t` (batch-first). With lengths, a step `t ≥ len[b]` leaves row `b`'s state as it
//! was and outputs zero, so the backward direction starts from a zero state at each sequence's last valid step.

use candle_core::Result;

use super::gemm::{gemm, transposed, Mat, MatMut};
use super::scratch;
use super::vmath;

/// The weights of one direction, PyTorch layout: `w_ih [4H, I]`, `w_hh [4H, H]`, `b_ih`, `b_hh [4H]`.
pub struct CellWeights<'a> {
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

/// Sizes and step order shared by the kernels of one direction.
#[derive(Clone, Copy, Debug)]
pub struct DirShape {
    pub batch: usize,
    pub time: usize,
    pub input: usize,
    pub hidden: usize,
    pub reverse: bool,
}

impl DirShape {
    /// The time index of the `s`-th step in processing order.
    pub fn step_time(&self, s: usize) -> usize {
        if self.reverse {
            self.time - 1 - s
        } else {
            s
        }
    }
}

/// What the LSTM backward pass needs from the forward pass of one direction.
pub struct LstmSaved {
    /// `[B·T, 4H]`: activated gates i, f, g, o of every valid step.
    pub gates: Vec<f32>,
    /// `[B·T, H]`: the state (h, c) before each step, in processing order.
    pub prev_h: Vec<f32>,
    pub prev_c: Vec<f32>,
    /// `[B·T, H]`: `tanh(c_t)` after each valid step.
    pub tanh_c: Vec<f32>,
}

impl Drop for LstmSaved {
    fn drop(&mut self) {
        scratch::give_all([
            std::mem::take(&mut self.gates),
            std::mem::take(&mut self.prev_h),
            std::mem::take(&mut self.prev_c),
            std::mem::take(&mut self.tanh_c),
        ]);
    }
}

/// The outputs of one direction: its sequence `[B·T, H]` (zero past each length) and final state `[B, H]`.
pub struct DirOutput {
    pub seq: Vec<f32>,
    pub h: Vec<f32>,
    pub c: Vec<f32>,
}

/// Runs one direction. `x` is `[B·T, I]`; `lens[b]` is the number of valid steps of row `b` (at most T).
/// With `save` false (inference) nothing is kept for a backward pass: the returned [`LstmSaved`] is empty.
pub fn forward(
    x: Mat,
    lens: &[usize],
    w: &CellWeights,
    sh: DirShape,
    save: bool,
) -> Result<(DirOutput, LstmSaved)> {
    let gates = input_gates(x, w, sh)?;
    recur(gates, None, lens, w.w_hh, sh, save)
}

/// The gate pre-activations of every step from the input alone: `x W_ihᵀ + b_ih + b_hh`, `[B·T, 4H]`.
pub fn input_gates(x: Mat, w: &CellWeights, sh: DirShape) -> Result<Vec<f32>> {
    let g_n = 4 * sh.hidden;
    let rows = sh.batch * sh.time;
    // The summed biases in every row, then x W_ihᵀ added on top.
    let mut gates = scratch::zeroed(rows * g_n);
    for row in gates.chunks_exact_mut(g_n) {
        for ((g, bi), bh) in row.iter_mut().zip(w.b_ih).zip(w.b_hh) {
            *g = bi + bh;
        }
    }
    let w_ih = Mat::new(w.w_ih, g_n, sh.input);
    gemm(
        &mut MatMut::new(&mut gates, rows, g_n),
        true,
        x,
        w_ih.t(),
        1.0,
        true,
    )?;
    Ok(gates)
}

/// The state a direction starts from, `[B, H]` each (zero when absent).
#[derive(Clone, Copy)]
pub struct InitState<'a> {
    pub h: &'a [f32],
    pub c: &'a [f32],
}

/// The recurrence of one direction over its gate pre-activations `gates [B·T, 4H]` (consumed: the activated
/// gates are written over them), from `init` or a zero state; `w_hh` is `[4H, H]`.
pub fn recur(
    mut gates: Vec<f32>,
    init: Option<InitState>,
    lens: &[usize],
    w_hh: &[f32],
    sh: DirShape,
    save: bool,
) -> Result<(DirOutput, LstmSaved)> {
    let (b_n, t_n, h_n) = (sh.batch, sh.time, sh.hidden);
    let g_n = 4 * h_n;
    let rows = b_n * t_n;
    // `W_hhᵀ` as a contiguous `[H, 4H]` copy: the per-step products then need no packing (see `transposed`).
    let w_hh_t_buf = transposed(w_hh, g_n, h_n);
    let w_hh_t = Mat::new(&w_hh_t_buf, h_n, g_n);
    let (mut h, mut c) = match init {
        Some(s) => (s.h.to_vec(), s.c.to_vec()),
        None => (vec![0f32; b_n * h_n], vec![0f32; b_n * h_n]),
    };
    let mut seq = vec![0f32; rows * h_n];
    let kept = if save { rows * h_n } else { 0 };
    let mut prev_h = scratch::zeroed(kept);
    let mut prev_c = scratch::zeroed(kept);
    let mut tanh_c = scratch::zeroed(kept);
    // Without a tape, tanh(c_t) of one row lives here.
    let mut tanh_row = vec![0f32; if save { 0 } else { h_n }];
    for s in 0..t_n {
        let t = sh.step_time(s);
        // A zero state contributes nothing to the first step.
        if s > 0 || init.is_some() {
            // This step's rows of the gate buffer: row b at (b·T + t)·4H.
            let mut dst = MatMut {
                data: &mut gates[t * g_n..],
                rows: b_n,
                cols: g_n,
                rs: t_n * g_n,
                cs: 1,
            };
            gemm(&mut dst, true, Mat::new(&h, b_n, h_n), w_hh_t, 1.0, false)?;
        }
        for b in 0..b_n {
            let r = b * t_n + t;
            let (hb, cb) = (&mut h[b * h_n..][..h_n], &mut c[b * h_n..][..h_n]);
            if save {
                prev_h[r * h_n..][..h_n].copy_from_slice(hb);
                prev_c[r * h_n..][..h_n].copy_from_slice(cb);
            }
            if t >= lens[b] {
                continue;
            }
            let g = &mut gates[r * g_n..][..g_n];
            vmath::sigmoid_in_place(&mut g[..2 * h_n]);
            vmath::tanh_in_place(&mut g[2 * h_n..3 * h_n]);
            vmath::sigmoid_in_place(&mut g[3 * h_n..]);
            let tc = if save {
                &mut tanh_c[r * h_n..][..h_n]
            } else {
                &mut tanh_row[..]
            };
            cell_update(g, cb, tc, h_n);
            let out = &mut seq[r * h_n..][..h_n];
            for j in 0..h_n {
                hb[j] = g[3 * h_n + j] * tc[j];
                out[j] = hb[j];
            }
        }
    }
    scratch::give(w_hh_t_buf);
    let saved = LstmSaved {
        gates: if save {
            gates
        } else {
            scratch::give(gates);
            Vec::new()
        },
        prev_h,
        prev_c,
        tanh_c,
    };
    Ok((DirOutput { seq, h, c }, saved))
}

/// `c = f·c + i·g`, and `tc = c` (the caller's tanh follows).
#[inline]
fn cell_update(g: &[f32], c: &mut [f32], tc: &mut [f32], h_n: usize) {
    let (i, rest) = g.split_at(h_n);
    let (f, rest) = rest.split_at(h_n);
    let gg = &rest[..h_n];
    for j in 0..h_n {
        c[j] = f[j] * c[j] + i[j] * gg[j];
        tc[j] = c[j];
    }
    vmath::tanh_in_place(tc);
}

/// Gradients of one direction's parameters, in PyTorch layout.
pub struct CellGrads {
    pub w_ih: Vec<f32>,
    pub w_hh: Vec<f32>,
    pub b_ih: Vec<f32>,
    pub b_hh: Vec<f32>,
}

/// The backward pass of [`forward`]. `d_seq` is the gradient of this direction's sequence output (a view of
/// `[B·T, H]`), `d_h` / `d_c` of its final state (`[B, H]`). Returns the parameter gradients, and adds the input
/// gradient into `d_x` (`[B·T, I]`) when given.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: Mat,
    lens: &[usize],
    w: &CellWeights,
    sh: DirShape,
    saved: &LstmSaved,
    d_seq: Option<Mat>,
    d_h: Option<&[f32]>,
    d_c: Option<&[f32]>,
    d_x: Option<&mut MatMut>,
) -> Result<CellGrads> {
    let back = recur_backward(lens, w.w_hh, sh, saved, d_seq, d_h, d_c, false)?;
    let g_n = 4 * sh.hidden;
    let grads = weight_grads(x, &back.dg, &back.dg, &saved.prev_h, w.w_ih, sh, g_n, d_x);
    scratch::give(back.dg);
    grads
}

/// What BPTT through [`recur`] gives: the gradient of the gate pre-activations `dg [B·T, 4H]` (pooled: give it
/// back with `scratch::give`), and of the initial state (`[B, H]` each; zero unless asked for).
pub struct RecurGrads {
    pub dg: Vec<f32>,
    pub d_h0: Vec<f32>,
    pub d_c0: Vec<f32>,
}

/// BPTT through [`recur`]: one pass per step for the gate gradients and one product `dG W_hh` for the state
/// gradient. With `init_grads`, the first step's product is made too, so the initial state gets its gradient.
#[allow(clippy::too_many_arguments)]
pub fn recur_backward(
    lens: &[usize],
    w_hh: &[f32],
    sh: DirShape,
    saved: &LstmSaved,
    d_seq: Option<Mat>,
    d_h: Option<&[f32]>,
    d_c: Option<&[f32]>,
    init_grads: bool,
) -> Result<RecurGrads> {
    let (b_n, t_n, h_n) = (sh.batch, sh.time, sh.hidden);
    let g_n = 4 * h_n;
    let rows = b_n * t_n;
    let mut dg = scratch::zeroed(rows * g_n);
    let mut dh = d_h.map_or_else(|| vec![0f32; b_n * h_n], <[f32]>::to_vec);
    let mut dc = d_c.map_or_else(|| vec![0f32; b_n * h_n], <[f32]>::to_vec);
    let mut tmp = vec![0f32; b_n * h_n];
    let w_hh = Mat::new(w_hh, g_n, h_n);
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
            gate_grads(
                &saved.gates[r * g_n..][..g_n],
                &saved.tanh_c[r * h_n..][..h_n],
                &saved.prev_c[r * h_n..][..h_n],
                dhb,
                &mut dc[b * h_n..][..h_n],
                &mut dg[r * g_n..][..g_n],
            );
        }
        if s == 0 && !init_grads {
            break;
        }
        // The state before this step gets dG_t W_hh where the step was valid; frozen rows pass dh through.
        let dg_t = Mat {
            data: &dg[t * g_n..],
            rows: b_n,
            cols: g_n,
            rs: t_n * g_n,
            cs: 1,
        };
        gemm(
            &mut MatMut::new(&mut tmp, b_n, h_n),
            false,
            dg_t,
            w_hh,
            1.0,
            false,
        )?;
        for b in 0..b_n {
            if t < lens[b] {
                dh[b * h_n..][..h_n].copy_from_slice(&tmp[b * h_n..][..h_n]);
            }
        }
    }
    let (d_h0, d_c0) = if init_grads {
        (dh, dc)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(RecurGrads { dg, d_h0, d_c0 })
}

/// Gate gradients of one valid step of one row. On entry `dh` is the total gradient of h_t and `dc` that of
/// c_t from later steps; on exit `dc` holds the gradient of c_{t-1} (the caller replaces `dh`).
#[inline]
pub(crate) fn gate_grads(
    g: &[f32],
    tc: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dg: &mut [f32],
) {
    let h_n = tc.len();
    let (i, rest) = g.split_at(h_n);
    let (f, rest) = rest.split_at(h_n);
    let (gg, o) = rest.split_at(h_n);
    let (di, rest) = dg.split_at_mut(h_n);
    let (df, rest) = rest.split_at_mut(h_n);
    let (dgg, d_o) = rest.split_at_mut(h_n);
    for j in 0..h_n {
        let dct = dc[j] + dh[j] * o[j] * (1.0 - tc[j] * tc[j]);
        d_o[j] = dh[j] * tc[j] * o[j] * (1.0 - o[j]);
        di[j] = dct * gg[j] * i[j] * (1.0 - i[j]);
        df[j] = dct * c_prev[j] * f[j] * (1.0 - f[j]);
        dgg[j] = dct * i[j] * (1.0 - gg[j] * gg[j]);
        dc[j] = dct * f[j];
    }
}

/// The products over all steps at once: `dW_ih = dG_inᵀ X`, `dW_hh = dG_hiddenᵀ H_prev`, the bias sums, and
/// `d_x += dG_in W_ih`. The LSTM passes its gate gradients twice; the GRU's input and hidden sides differ.
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grads(
    x: Mat,
    dg: &[f32],
    dg_hidden: &[f32],
    prev_h: &[f32],
    w_ih: &[f32],
    sh: DirShape,
    g_n: usize,
    d_x: Option<&mut MatMut>,
) -> Result<CellGrads> {
    let rows = sh.batch * sh.time;
    let dg_m = Mat::new(dg, rows, g_n);
    let w_ih_g = gate_product(dg_m, x)?;
    let w_hh_g = gate_product(
        Mat::new(dg_hidden, rows, g_n),
        Mat::new(prev_h, rows, sh.hidden),
    )?;
    let b_g = column_sums(dg, g_n);
    if let Some(d_x) = d_x {
        gemm(d_x, true, dg_m, Mat::new(w_ih, g_n, sh.input), 1.0, true)?;
    }
    let b_hh_g = if std::ptr::eq(dg, dg_hidden) {
        b_g.clone()
    } else {
        column_sums(dg_hidden, g_n)
    };
    Ok(CellGrads {
        w_ih: w_ih_g,
        w_hh: w_hh_g,
        b_ih: b_g,
        b_hh: b_hh_g,
    })
}

/// `dGᵀ Y` (`dg [rows, G]`, `y [rows, N]` -> `[G, N]`), computed as `(Yᵀ dG)` into `[N, G]` and transposed.
///
/// Why the detour: written as `[G, N]` directly, the `gemm` crate runs its kernel along `N` and packs all of
/// `dG` (`rows x 4H`, the largest operand: 2.6 M values at batch 100, T 20, H 256) on every call. Written as
/// `[N, G]`, it runs along the gates, reads `dG` in place and packs only `Y` (`rows x N`); the transpose back
/// touches `G x N` values, independent of the batch. Each element is the same sum over the rows, in the same
/// order and the same depth blocks, so the bits do not change.
fn gate_product(dg: Mat, y: Mat) -> Result<Vec<f32>> {
    let (g_n, n) = (dg.cols, y.cols);
    let mut yt_dg = scratch::zeroed(n * g_n);
    gemm(
        &mut MatMut::new(&mut yt_dg, n, g_n),
        false,
        y.t(),
        dg,
        1.0,
        true,
    )?;
    let out = transposed(&yt_dg, n, g_n);
    scratch::give(yt_dg);
    Ok(out)
}

/// Sums the rows of a row-major `[rows, cols]` buffer.
pub(crate) fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; cols];
    for row in m.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    out
}
