//! MulT's pre-LayerNorm transformer layer as one fused CPU operation with a hand-written backward pass.
//!
//! Same mathematics, parameter layout and dropout draws (same shapes, same order) as
//! [`crate::nn::transformer_layer`], which stays the reference and the path for other devices:
//!
//! ```text
//! xn = LN0(x); kvn = LN0(kv)            q = xn Wqᵀ + bq (scaled by hd^-1/2); k, v from kvn (or xn)
//! P = softmax(q kᵀ + causal mask)       ctx = dropout(P) v (per head)     a = ctx Woᵀ + bo
//! x1 = x + dropout(a)                   y = fc2(dropout(relu(fc1(LN1(x1)))))   out = x1 + dropout(y)
//! ```
//!
//! A MulT training step runs 45 such layers on tiny tensors (d = 30 or 60, T = 20): as candle ops that is
//! thousands of operator launches, buffers and autograd nodes per step. Here every projection is one strided
//! product, the attention of each (example, head) pair is a few short vectorisable loops, and the backward pass
//! reuses what the forward pass kept.

use candle_core::{bail, Result, Tensor};

use super::gemm::{gemm, Mat, MatMut};
use super::host::{self, HostF32};
use super::lstm::column_sums;
use super::vmath;
use super::wide::wide_fn;
use crate::nn::{AttentionParams, LayerNormParams, LinearParams, TransformerParams};
use crate::rng::SeededRng;

/// LayerNorm epsilon of MulT's layers (PyTorch's default), as in `nn::attention`.
const LN_EPS: f32 = 1e-5;

/// The layer's hyper-parameters.
#[derive(Clone, Copy, Debug)]
pub struct LayerConfig {
    pub heads: usize,
    pub causal: bool,
    pub attn_dropout: f64,
    pub relu_dropout: f64,
    pub res_dropout: f64,
}

/// Host copies of the layer's parameters.
struct Weights {
    ln0_w: Vec<f32>,
    ln0_b: Vec<f32>,
    in_w: Vec<f32>,
    in_b: Vec<f32>,
    out_w: Vec<f32>,
    out_b: Vec<f32>,
    ln1_w: Vec<f32>,
    ln1_b: Vec<f32>,
    fc1_w: Vec<f32>,
    fc1_b: Vec<f32>,
    fc2_w: Vec<f32>,
    fc2_b: Vec<f32>,
    ff: usize,
}

fn host_vec(t: &Tensor) -> Result<Vec<f32>> {
    match HostF32::of(t) {
        Some(v) => Ok(v.as_slice().to_vec()),
        None => bail!("transformer layer: a parameter is not a contiguous f32 CPU tensor"),
    }
}

fn bias_of(l: &LinearParams) -> Result<&Tensor> {
    match &l.bias {
        Some(b) => Ok(b),
        None => bail!("transformer layer: a projection has no bias"),
    }
}

impl Weights {
    fn of(p: &TransformerParams) -> Result<Weights> {
        Ok(Weights {
            ln0_w: host_vec(&p.ln0.weight)?,
            ln0_b: host_vec(&p.ln0.bias)?,
            in_w: host_vec(&p.attn.in_proj_weight)?,
            in_b: host_vec(&p.attn.in_proj_bias)?,
            out_w: host_vec(&p.attn.out_proj.weight)?,
            out_b: host_vec(bias_of(&p.attn.out_proj)?)?,
            ln1_w: host_vec(&p.ln1.weight)?,
            ln1_b: host_vec(&p.ln1.bias)?,
            fc1_w: host_vec(&p.fc1.weight)?,
            fc1_b: host_vec(bias_of(&p.fc1)?)?,
            fc2_w: host_vec(&p.fc2.weight)?,
            fc2_b: host_vec(bias_of(&p.fc2)?)?,
            ff: p.fc1.weight.dims2()?.0,
        })
    }
}

/// True when the fused layer applies: f32 CPU input(s) and parameters.
pub fn supported(x: &Tensor, kv: Option<&Tensor>, p: &TransformerParams) -> bool {
    let ln = |l: &LayerNormParams| host::is_host_f32(&l.weight) && host::is_host_f32(&l.bias);
    let lin = |l: &LinearParams| {
        host::is_host_f32(&l.weight) && l.bias.as_ref().is_some_and(host::is_host_f32)
    };
    let attn = |a: &AttentionParams| {
        host::is_host_f32(&a.in_proj_weight)
            && host::is_host_f32(&a.in_proj_bias)
            && lin(&a.out_proj)
    };
    host::is_host_f32(x)
        && kv.is_none_or(host::is_host_f32)
        && ln(&p.ln0)
        && attn(&p.attn)
        && ln(&p.ln1)
        && lin(&p.fc1)
        && lin(&p.fc2)
}

/// What the backward pass needs.
pub struct LayerTape {
    cfg: LayerConfig,
    batch: usize,
    tq: usize,
    tk: usize,
    d: usize,
    w: Weights,
    x_hat: Vec<f32>,
    x_rstd: Vec<f32>,
    /// `None` for self-attention (keys and values come from `xn`).
    kv_hat: Option<(Vec<f32>, Vec<f32>)>,
    xn: Vec<f32>,
    kvn: Option<Vec<f32>>,
    /// Scaled queries `[B·Tq, d]`, keys and values `[B·Tk, d]`.
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Softmax probabilities `[B, H, Tq, Tk]` and their dropout mask (scaled), if any.
    probs: Vec<f32>,
    attn_mask: Option<Vec<f32>>,
    ctx: Vec<f32>,
    res1_mask: Option<Vec<f32>>,
    h_hat: Vec<f32>,
    h_rstd: Vec<f32>,
    y0: Vec<f32>,
    /// fc1's pre-activation `[B·Tq, ff]`, and the dropped-out ReLU output.
    pre: Vec<f32>,
    relu_mask: Option<Vec<f32>>,
    rd: Vec<f32>,
    res2_mask: Option<Vec<f32>>,
}

wide_fn! {
    /// Layer normalisation of `rows` rows of width `d`: `(y, x̂, 1/σ)`.
    fn ln_forward(x: &[f32], d: usize, w: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let rows = x.len() / d.max(1);
        let inv_d = 1.0 / d as f32;
        let mut y = vec![0f32; x.len()];
        let mut hat = vec![0f32; x.len()];
        let mut rstd = vec![0f32; rows];
        for r in 0..rows {
            let xr = &x[r * d..][..d];
            let mean = xr.iter().sum::<f32>() * inv_d;
            let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() * inv_d;
            let std = (var + LN_EPS).sqrt();
            rstd[r] = 1.0 / std;
            let (hr, yr) = (&mut hat[r * d..][..d], &mut y[r * d..][..d]);
            for j in 0..d {
                hr[j] = (xr[j] - mean) / std;
                yr[j] = hr[j] * w[j] + b[j];
            }
        }
        (y, hat, rstd)
    }
}

wide_fn! {
    /// The backward pass of [`ln_forward`]: adds the input gradient into `dx` and the parameter gradients into
    /// `dw`, `db`.
    fn ln_backward(
        g: &[f32],
        hat: &[f32],
        rstd: &[f32],
        w: &[f32],
        dx: &mut [f32],
        dw: &mut [f32],
        db: &mut [f32],
    ) {
        let d = w.len();
        let inv_d = 1.0 / d as f32;
        for (r, rs) in rstd.iter().enumerate() {
            let (gr, hr) = (&g[r * d..][..d], &hat[r * d..][..d]);
            let mut sum_d = 0f32;
            let mut sum_dh = 0f32;
            for j in 0..d {
                let dh = gr[j] * w[j];
                sum_d += dh;
                sum_dh += dh * hr[j];
                dw[j] += gr[j] * hr[j];
                db[j] += gr[j];
            }
            let (md, mdh) = (sum_d * inv_d, sum_dh * inv_d);
            let dxr = &mut dx[r * d..][..d];
            for j in 0..d {
                dxr[j] += rs * (gr[j] * w[j] - md - hr[j] * mdh);
            }
        }
    }
}

/// `y = x wᵀ + b` for `x [rows, i]`, `w [o, i]`.
fn affine(x: Mat, w: &[f32], b: &[f32], o: usize) -> Result<Vec<f32>> {
    let rows = x.rows;
    let mut y = vec![0f32; rows * o];
    for r in y.chunks_exact_mut(o) {
        r.copy_from_slice(b);
    }
    gemm(
        &mut MatMut::new(&mut y, rows, o),
        true,
        x,
        Mat::new(w, o, x.cols).t(),
        1.0,
        true,
    )?;
    Ok(y)
}

/// A dropout mask of `n` values when training with `p > 0` (all zeros, with no draw, at `p >= 1`, as
/// `nn::dropout` does).
fn mask(rng: Option<&mut SeededRng>, p: f64, n: usize) -> Result<Option<Vec<f32>>> {
    match rng {
        Some(_) if p >= 1.0 => Ok(Some(vec![0.0; n])),
        Some(rng) if p > 0.0 => Ok(Some(crate::nn::host_mask(n, rng.next_u64(), p))),
        _ => Ok(None),
    }
}

/// The forward pass. With `rng` (training) dropout masks are drawn in `nn::transformer_layer`'s order; the tape
/// is for [`backward`].
pub fn forward(
    x: &Tensor,
    kv: Option<&Tensor>,
    p: &TransformerParams,
    cfg: LayerConfig,
    mut rng: Option<&mut SeededRng>,
) -> Result<(Tensor, LayerTape)> {
    let (batch, tq, d) = x.dims3()?;
    let heads = cfg.heads;
    if heads == 0 || d % heads != 0 {
        bail!("attention: model dim {d} is not divisible into {heads} heads");
    }
    let hd = d / heads;
    let w = Weights::of(p)?;
    let xs = match HostF32::of(x) {
        Some(v) => v.as_slice().to_vec(),
        None => bail!("transformer layer: the input is not a contiguous f32 CPU tensor"),
    };
    let (xn, x_hat, x_rstd) = ln_forward(&xs, d, &w.ln0_w, &w.ln0_b);
    let (kvn, kv_hat, tk) = match kv {
        Some(kv) => {
            let (bk, tk, dk) = kv.dims3()?;
            if bk != batch || dk != d {
                bail!(
                    "transformer layer: kv {:?} does not match x {:?}",
                    kv.dims(),
                    x.dims()
                );
            }
            let ks = match HostF32::of(kv) {
                Some(v) => v.as_slice().to_vec(),
                None => bail!("transformer layer: kv is not a contiguous f32 CPU tensor"),
            };
            let (n, h, r) = ln_forward(&ks, d, &w.ln0_w, &w.ln0_b);
            (Some(n), Some((h, r)), tk)
        }
        None => (None, None, tq),
    };
    let (rq, rk) = (batch * tq, batch * tk);
    let scale = (hd as f32).powf(-0.5);
    // Projections: q from xn, k and v from kvn (or xn).
    let src = kvn.as_deref().unwrap_or(&xn);
    let mut q = affine(Mat::new(&xn, rq, d), &w.in_w[..d * d], &w.in_b[..d], d)?;
    q.iter_mut().for_each(|v| *v *= scale);
    let kvp = affine(Mat::new(src, rk, d), &w.in_w[d * d..], &w.in_b[d..], 2 * d)?;
    let mut k = vec![0f32; rk * d];
    let mut v = vec![0f32; rk * d];
    for r in 0..rk {
        k[r * d..][..d].copy_from_slice(&kvp[r * 2 * d..][..d]);
        v[r * d..][..d].copy_from_slice(&kvp[r * 2 * d + d..][..d]);
    }
    // Attention per (example, head); examples are independent, so with threads they run in parallel (each
    // example's arithmetic is the same on any thread, so the results do not depend on the thread count). The
    // attention-dropout mask is drawn first: nothing else draws in between, so the draw order is unchanged.
    let attn_mask = mask(
        rng.as_deref_mut(),
        cfg.attn_dropout,
        batch * heads * tq * tk,
    )?;
    let mut probs = vec![0f32; batch * heads * tq * tk];
    let mut ctx = vec![0f32; rq * d];
    let shape = AttnShape {
        heads,
        tq,
        tk,
        d,
        causal: cfg.causal,
    };
    let per_example = |b: usize, pb: &mut [f32], cb: &mut [f32]| {
        let mb = attn_mask.as_ref().map(|m| &m[b * pb.len()..][..pb.len()]);
        attend_example(
            shape,
            &q[b * tq * d..][..tq * d],
            &k[b * tk * d..][..tk * d],
            &v[b * tk * d..][..tk * d],
            mb,
            pb,
            cb,
        )
    };
    if parallel_examples(batch) {
        use rayon::prelude::*;
        probs
            .par_chunks_mut(heads * tq * tk)
            .zip(ctx.par_chunks_mut(tq * d))
            .enumerate()
            .for_each(|(b, (pb, cb))| per_example(b, pb, cb));
    } else {
        for (b, (pb, cb)) in probs
            .chunks_mut(heads * tq * tk)
            .zip(ctx.chunks_mut(tq * d))
            .enumerate()
        {
            per_example(b, pb, cb);
        }
    }
    let a = affine(Mat::new(&ctx, rq, d), &w.out_w, &w.out_b, d)?;
    let res1_mask = mask(rng.as_deref_mut(), cfg.res_dropout, rq * d)?;
    let mut x1 = xs;
    let mut a = a;
    apply_mask(&mut a, &res1_mask);
    add_into(&mut x1, &a);
    let (y0, h_hat, h_rstd) = ln_forward(&x1, d, &w.ln1_w, &w.ln1_b);
    let ff = w.ff;
    let pre = affine(Mat::new(&y0, rq, d), &w.fc1_w, &w.fc1_b, ff)?;
    let relu_mask = mask(rng.as_deref_mut(), cfg.relu_dropout, rq * ff)?;
    let mut rd: Vec<f32> = pre.iter().map(|p| p.max(0.0)).collect();
    apply_mask(&mut rd, &relu_mask);
    let y2 = affine(Mat::new(&rd, rq, ff), &w.fc2_w, &w.fc2_b, d)?;
    let res2_mask = mask(rng.as_deref_mut(), cfg.res_dropout, rq * d)?;
    let mut out = y2;
    apply_mask(&mut out, &res2_mask);
    add_into(&mut out, &x1);
    let tape = LayerTape {
        cfg,
        batch,
        tq,
        tk,
        d,
        w,
        x_hat,
        x_rstd,
        kv_hat,
        xn,
        kvn,
        q,
        k,
        v,
        probs,
        attn_mask,
        ctx,
        res1_mask,
        h_hat,
        h_rstd,
        y0,
        pre,
        relu_mask,
        rd,
        res2_mask,
    };
    Ok((host::tensor(out, (batch, tq, d))?, tape))
}

/// The attention's sizes: `heads` heads over a model dimension `d`, `tq` queries, `tk` keys.
#[derive(Clone, Copy)]
struct AttnShape {
    heads: usize,
    tq: usize,
    tk: usize,
    d: usize,
    causal: bool,
}

/// Whether the examples of a batch are spread over the configured threads (worth it from a few examples on).
fn parallel_examples(batch: usize) -> bool {
    batch >= 4 && super::gemm::threads() > 1
}

/// Vector lanes of the attention kernels: rows over queries (or keys) are padded to a multiple of this, and
/// each product keeps one chunk of lanes in registers while it sums (8 lanes: one AVX2 register; a 20-step
/// row pads to 24).
const LANES: usize = 8;

fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// `init + Σ_n rows[n·stride + off ..][..LANES] · coef(n)`, summed in order of `n`, for one chunk of lanes.
#[inline(always)]
fn sum_rows(
    init: f32,
    rows: &[f32],
    stride: usize,
    off: usize,
    n: usize,
    coef: impl Fn(usize) -> f32,
) -> [f32; LANES] {
    let mut acc = [init; LANES];
    for t in 0..n {
        let (r, a) = (&rows[t * stride + off..][..LANES], coef(t));
        for l in 0..LANES {
            acc[l] += r[l] * a;
        }
    }
    acc
}

/// `out[..stride] = init + Σ_n rows[n·stride..][..stride] · coef(n)`, summed in order of `n`: a whole padded row
/// at once when it is at most 32 lanes (its chunks are independent chains the CPU overlaps), else chunk by
/// chunk.
#[inline(always)]
fn sum_rows_into(
    out: &mut [f32],
    init: f32,
    rows: &[f32],
    stride: usize,
    n: usize,
    coef: impl Fn(usize) -> f32,
) {
    #[inline(always)]
    fn whole<const W: usize>(
        out: &mut [f32],
        init: f32,
        rows: &[f32],
        n: usize,
        coef: impl Fn(usize) -> f32,
    ) {
        let mut acc = [init; W];
        for t in 0..n {
            let (r, a) = (&rows[t * W..][..W], coef(t));
            for l in 0..W {
                acc[l] += r[l] * a;
            }
        }
        out[..W].copy_from_slice(&acc);
    }
    match stride {
        8 => whole::<8>(out, init, rows, n, coef),
        16 => whole::<16>(out, init, rows, n, coef),
        24 => whole::<24>(out, init, rows, n, coef),
        32 => whole::<32>(out, init, rows, n, coef),
        _ => {
            for off in (0..stride).step_by(LANES) {
                let acc = sum_rows(init, rows, stride, off, n, &coef);
                out[off..][..LANES].copy_from_slice(&acc);
            }
        }
    }
}

/// `out [cols, stride]` (padded rows) = the transpose of `m [rows, cols]` (rows `m_stride` apart).
fn transpose_into(
    m: &[f32],
    rows: usize,
    cols: usize,
    m_stride: usize,
    out: &mut [f32],
    stride: usize,
) {
    for r in 0..rows {
        for c in 0..cols {
            out[c * stride + r] = m[r * m_stride + c];
        }
    }
}

wide_fn! {
    /// One example's attention: `q [Tq, d]` (already scaled), `k`, `v [Tk, d]`, the dropout mask of its
    /// probabilities (if any, `[heads, Tq, Tk]`); writes the probabilities `probs [heads, Tk, Tq]` (transposed:
    /// see below) and the context `ctx [Tq, d]`.
    ///
    /// A MulT head is 6 or 12 wide, so loops over a head's width do not vectorise, and a row of Tk = 20 scores
    /// summed into memory stalls on its own stores. Every product here instead runs its vector lanes over the
    /// queries (or keys), keeps them in registers, and sums over the other index in the order the row-wise
    /// formulation did, so the results are the same bits. Hence the `[Tk, Tq]` layout.
    fn attend_example(
        s: AttnShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        attn_mask: Option<&[f32]>,
        probs: &mut [f32],
        ctx: &mut [f32],
    ) {
        let (heads, tq, tk, d) = (s.heads, s.tq, s.tk, s.d);
        let hd = d / heads;
        let lq = padded(tq);
        // Key j is valid for the queries first[j].. (a query's valid keys are a prefix that grows with i).
        let first: Vec<usize> = (0..tk)
            .map(|j| (0..tq).find(|&i| j < valid_keys(s, i)).unwrap_or(tq))
            .collect();
        let mut qt = vec![0f32; hd * lq];
        let mut st = vec![0f32; tk * lq];
        let mut mt = vec![0f32; if attn_mask.is_some() { tk * lq } else { 0 }];
        let mut inv = vec![0f32; lq];
        let mut ct = vec![0f32; hd * lq];
        for h in 0..heads {
            transpose_into(&q[h * hd..], tq, hd, d, &mut qt, lq);
            // Scores sᵀ[j, i] = Σ_c q[i, c] k[j, c]; masked keys get -inf (they take no part in the maximum).
            for j in 0..tk {
                let kj = &k[j * d + h * hd..][..hd];
                sum_rows_into(
                    &mut st[j * lq..],
                    0.0,
                    &qt,
                    lq,
                    hd,
                    |c| kj[c],
                );
                st[j * lq..][..first[j]].fill(f32::NEG_INFINITY);
            }
            // Softmax over keys, per query: subtract the maximum, exponentiate, zero the masked entries, sum
            // (from -0.0, `Iterator::sum`'s start, in key order) and scale.
            for off in (0..lq).step_by(LANES) {
                let mut m = [f32::NEG_INFINITY; LANES];
                for j in 0..tk {
                    let r = &st[j * lq + off..][..LANES];
                    for l in 0..LANES {
                        m[l] = m[l].max(r[l]);
                    }
                }
                for j in 0..tk {
                    let r = &mut st[j * lq + off..][..LANES];
                    for l in 0..LANES {
                        r[l] -= m[l];
                    }
                }
            }
            vmath::exp_in_place(&mut st);
            for j in 0..tk {
                st[j * lq..][..first[j]].fill(0.0);
            }
            sum_rows_into(&mut inv, -0.0, &st, lq, tk, |_| 1.0);
            for v in inv.iter_mut() {
                *v = 1.0 / *v;
            }
            for j in 0..tk {
                let row = &mut st[j * lq..][..lq];
                for (p, r) in row.iter_mut().zip(&inv) {
                    *p *= r;
                }
                probs[(h * tk + j) * tq..][..tq].copy_from_slice(&row[..tq]);
            }
            // The context ctxᵀ[c, i] = Σ_j (p[i, j]·mask[i, j]) v[j, c].
            if let Some(m) = attn_mask {
                transpose_into(&m[h * tq * tk..], tq, tk, tk, &mut mt, lq);
                for (p, mv) in st.iter_mut().zip(&mt) {
                    *p *= mv;
                }
            }
            for c in 0..hd {
                sum_rows_into(
                    &mut ct[c * lq..],
                    0.0,
                    &st,
                    lq,
                    tk,
                    |j| v[j * d + h * hd + c],
                );
            }
            for i in 0..tq {
                for c in 0..hd {
                    ctx[i * d + h * hd + c] = ct[c * lq + i];
                }
            }
        }
    }
}

/// Multiplies by a dropout mask, if there is one.
fn apply_mask(v: &mut [f32], m: &Option<Vec<f32>>) {
    if let Some(m) = m {
        for (x, k) in v.iter_mut().zip(m) {
            *x *= k;
        }
    }
}

fn add_into(acc: &mut [f32], v: &[f32]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// The keys query `i` attends to: all of them, or with a causal mask those up to its own step (aligned at the
/// end when the key sequence is longer); at least one, so a row's softmax is defined.
fn valid_keys(s: AttnShape, i: usize) -> usize {
    let valid = if s.causal {
        i + s.tk.abs_diff(s.tq) + 1
    } else {
        s.tk
    };
    valid.max(1).min(s.tk)
}

/// Gradients of one layer: the input's, the keys/values source's (cross-attention), and every parameter's by
/// name (`ln0.weight`, `attn.in_proj_weight`, ...).
pub struct LayerGrads {
    pub dx: Tensor,
    pub dkv: Option<Tensor>,
    pub params: Vec<(String, Tensor)>,
}

/// The backward pass of [`forward`] for the output gradient `g [B, Tq, d]`.
pub fn backward(t: &LayerTape, g: &Tensor) -> Result<LayerGrads> {
    let (batch, tq, tk, d) = (t.batch, t.tq, t.tk, t.d);
    let heads = t.cfg.heads;
    let hd = d / heads;
    let ff = t.w.ff;
    let (rq, rk) = (batch * tq, batch * tk);
    let w = &t.w;
    let gs = match HostF32::of(g) {
        Some(v) => v.as_slice().to_vec(),
        None => g
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?,
    };
    if gs.len() != rq * d {
        bail!(
            "transformer layer backward: gradient has {} values, expected {}",
            gs.len(),
            rq * d
        );
    }
    // out = x1 + y2·m2.
    let mut dx1 = gs.clone();
    let mut dy2 = gs;
    apply_mask(&mut dy2, &t.res2_mask);
    // fc2.
    let (dfc2_w, dfc2_b, drd) = linear_grads(&dy2, &t.rd, &w.fc2_w, rq, ff, d)?;
    // ReLU and its dropout.
    let mut dpre = drd;
    apply_mask(&mut dpre, &t.relu_mask);
    for (g, p) in dpre.iter_mut().zip(&t.pre) {
        *g = if *p > 0.0 { *g } else { 0.0 };
    }
    let (dfc1_w, dfc1_b, dy0) = linear_grads(&dpre, &t.y0, &w.fc1_w, rq, d, ff)?;
    let (mut dln1_w, mut dln1_b) = (vec![0f32; d], vec![0f32; d]);
    ln_backward(
        &dy0,
        &t.h_hat,
        &t.h_rstd,
        &w.ln1_w,
        &mut dx1,
        &mut dln1_w,
        &mut dln1_b,
    );
    // x1 = x + a·m1.
    let mut da = dx1.clone();
    apply_mask(&mut da, &t.res1_mask);
    let (dout_w, dout_b, dctx) = linear_grads(&da, &t.ctx, &w.out_w, rq, d, d)?;
    // Attention, per (example, head), examples in parallel as in the forward pass.
    let mut dq = vec![0f32; rq * d];
    let mut dk = vec![0f32; rk * d];
    let mut dv = vec![0f32; rk * d];
    let shape = AttnShape {
        heads,
        tq,
        tk,
        d,
        causal: t.cfg.causal,
    };
    let per_example = |b: usize, dqb: &mut [f32], dkb: &mut [f32], dvb: &mut [f32]| {
        let n = heads * tq * tk;
        attend_example_backward(
            shape,
            ExampleTape {
                q: &t.q[b * tq * d..][..tq * d],
                k: &t.k[b * tk * d..][..tk * d],
                v: &t.v[b * tk * d..][..tk * d],
                probs: &t.probs[b * n..][..n],
                attn_mask: t.attn_mask.as_ref().map(|m| &m[b * n..][..n]),
            },
            &dctx[b * tq * d..][..tq * d],
            dqb,
            dkb,
            dvb,
        )
    };
    if parallel_examples(batch) {
        use rayon::prelude::*;
        dq.par_chunks_mut(tq * d)
            .zip(dk.par_chunks_mut(tk * d))
            .zip(dv.par_chunks_mut(tk * d))
            .enumerate()
            .for_each(|(b, ((dqb, dkb), dvb))| per_example(b, dqb, dkb, dvb));
    } else {
        for (b, ((dqb, dkb), dvb)) in dq
            .chunks_mut(tq * d)
            .zip(dk.chunks_mut(tk * d))
            .zip(dv.chunks_mut(tk * d))
            .enumerate()
        {
            per_example(b, dqb, dkb, dvb);
        }
    }
    // q was scaled after its bias: d(raw q) = scale · dq.
    let scale = (hd as f32).powf(-0.5);
    dq.iter_mut().for_each(|v| *v *= scale);
    // In-projection: rows 0..d from xn (q), rows d..3d from the key/value source.
    let (dwq, dbq, mut dxn) = linear_grads(&dq, &t.xn, &w.in_w[..d * d], rq, d, d)?;
    let mut dkvp = vec![0f32; rk * 2 * d];
    for r in 0..rk {
        dkvp[r * 2 * d..][..d].copy_from_slice(&dk[r * d..][..d]);
        dkvp[r * 2 * d + d..][..d].copy_from_slice(&dv[r * d..][..d]);
    }
    let src = t.kvn.as_deref().unwrap_or(&t.xn);
    let (dwkv, dbkv, dsrc) = linear_grads(&dkvp, src, &w.in_w[d * d..], rk, d, 2 * d)?;
    let mut din_w = dwq;
    din_w.extend(dwkv);
    let mut din_b = dbq;
    din_b.extend(dbkv);
    // LN0 on x (and on kv, with the same parameters).
    let (mut dln0_w, mut dln0_b) = (vec![0f32; d], vec![0f32; d]);
    let dkv = match &t.kv_hat {
        None => {
            dxn.iter_mut().zip(&dsrc).for_each(|(a, b)| *a += b);
            None
        }
        Some((hat, rstd)) => {
            let mut dkv = vec![0f32; rk * d];
            ln_backward(
                &dsrc,
                hat,
                rstd,
                &w.ln0_w,
                &mut dkv,
                &mut dln0_w,
                &mut dln0_b,
            );
            Some(host::tensor(dkv, (batch, tk, d))?)
        }
    };
    ln_backward(
        &dxn,
        &t.x_hat,
        &t.x_rstd,
        &w.ln0_w,
        &mut dx1,
        &mut dln0_w,
        &mut dln0_b,
    );
    let named = |n: &str, v: Vec<f32>, dims: Vec<usize>| -> Result<(String, Tensor)> {
        Ok((n.to_string(), host::tensor(v, dims)?))
    };
    let params = vec![
        named("ln0.weight", dln0_w, vec![d])?,
        named("ln0.bias", dln0_b, vec![d])?,
        named("attn.in_proj_weight", din_w, vec![3 * d, d])?,
        named("attn.in_proj_bias", din_b, vec![3 * d])?,
        named("attn.out_proj.weight", dout_w, vec![d, d])?,
        named("attn.out_proj.bias", dout_b, vec![d])?,
        named("ln1.weight", dln1_w, vec![d])?,
        named("ln1.bias", dln1_b, vec![d])?,
        named("fc1.weight", dfc1_w, vec![ff, d])?,
        named("fc1.bias", dfc1_b, vec![ff])?,
        named("fc2.weight", dfc2_w, vec![d, ff])?,
        named("fc2.bias", dfc2_b, vec![d])?,
    ];
    Ok(LayerGrads {
        dx: host::tensor(dx1, (batch, tq, d))?,
        dkv,
        params,
    })
}

/// What the backward pass of one example's attention reads from the forward pass.
struct ExampleTape<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    probs: &'a [f32],
    attn_mask: Option<&'a [f32]>,
}

wide_fn! {
    /// The backward pass of [`attend_example`] (whose `[Tk, Tq]` probabilities the tape holds): from
    /// `dctx [Tq, d]`, writes `dq [Tq, d]` (of the scaled q) and `dk`, `dv [Tk, d]`. As in the forward pass,
    /// each product keeps a chunk of lanes over queries or keys in registers and sums in the row-wise order.
    fn attend_example_backward(
        s: AttnShape,
        t: ExampleTape,
        dctx: &[f32],
        dq: &mut [f32],
        dk: &mut [f32],
        dv: &mut [f32],
    ) {
        let (heads, tq, tk, d) = (s.heads, s.tq, s.tk, s.d);
        let hd = d / heads;
        let (lq, lk) = (padded(tq), padded(tk));
        let mut pt = vec![0f32; tk * lq]; // probabilities, [Tk, Tq]
        let mut mt = vec![0f32; if t.attn_mask.is_some() { tk * lq } else { 0 }];
        let mut pd = vec![0f32; tq * lk]; // dropped-out probabilities, [Tq, Tk]
        let mut dst = vec![0f32; tk * lq]; // dPᵀ, then dSᵀ, [Tk, Tq]
        let mut ds = vec![0f32; tq * lk]; // dS, [Tq, Tk]
        let mut dct = vec![0f32; hd * lq]; // dctxᵀ, [hd, Tq]
        let mut qt = vec![0f32; hd * lq];
        let mut dot = vec![0f32; lq];
        let mut acc_t = vec![0f32; hd * lq.max(lk)];
        for h in 0..heads {
            for j in 0..tk {
                pt[j * lq..][..tq].copy_from_slice(&t.probs[(h * tk + j) * tq..][..tq]);
            }
            if let Some(m) = t.attn_mask {
                transpose_into(&m[h * tq * tk..], tq, tk, tk, &mut mt, lq);
            }
            transpose_into(&dctx[h * hd..], tq, hd, d, &mut dct, lq);
            // pd = p ⊙ mask, [Tq, Tk].
            for i in 0..tq {
                for j in 0..tk {
                    let m = if t.attn_mask.is_some() { mt[j * lq + i] } else { 1.0 };
                    pd[i * lk + j] = pt[j * lq + i] * m;
                }
            }
            // dPᵀ[j, i] = Σ_c dctx[i, c] v[j, c], then through the dropout mask.
            for j in 0..tk {
                let vj = &t.v[j * d + h * hd..][..hd];
                sum_rows_into(
                    &mut dst[j * lq..],
                    0.0,
                    &dct,
                    lq,
                    hd,
                    |c| vj[c],
                );
                if t.attn_mask.is_some() {
                    for (r, m) in dst[j * lq..][..lq].iter_mut().zip(&mt[j * lq..][..lq]) {
                        *r *= m;
                    }
                }
            }
            // dvᵀ[c, j] = Σ_i pd[i, j] dctx[i, c].
            for c in 0..hd {
                sum_rows_into(
                    &mut acc_t[c * lk..],
                    0.0,
                    &pd,
                    lk,
                    tq,
                    |i| dctx[i * d + h * hd + c],
                );
            }
            for j in 0..tk {
                for c in 0..hd {
                    dv[j * d + h * hd + c] = acc_t[c * lk + j];
                }
            }
            // Softmax: dS = P ⊙ (dP - Σ_j dP ⊙ P), per query (the sum from -0.0, in key order).
            for off in (0..lq).step_by(LANES) {
                let mut acc = [-0.0f32; LANES];
                for j in 0..tk {
                    let (r, p) = (&dst[j * lq + off..][..LANES], &pt[j * lq + off..][..LANES]);
                    for l in 0..LANES {
                        acc[l] += r[l] * p[l];
                    }
                }
                dot[off..][..LANES].copy_from_slice(&acc);
            }
            for j in 0..tk {
                let (row, prow) = (&mut dst[j * lq..][..lq], &pt[j * lq..][..lq]);
                for ((r, pv), dt) in row.iter_mut().zip(prow).zip(&dot) {
                    *r = pv * (*r - dt);
                }
            }
            // dqᵀ[c, i] = Σ_j dS[i, j] k[j, c] (from -0.0: the row-wise form used `Iterator::sum`).
            for c in 0..hd {
                sum_rows_into(
                    &mut acc_t[c * lq..],
                    -0.0,
                    &dst,
                    lq,
                    tk,
                    |j| t.k[j * d + h * hd + c],
                );
            }
            for i in 0..tq {
                for c in 0..hd {
                    dq[i * d + h * hd + c] = acc_t[c * lq + i];
                }
            }
            // dkᵀ[c, j] = Σ_i dS[i, j] q[i, c].
            transpose_into(&dst, tk, tq, lq, &mut ds, lk);
            transpose_into(&t.q[h * hd..], tq, hd, d, &mut qt, lq);
            for c in 0..hd {
                sum_rows_into(
                    &mut acc_t[c * lk..],
                    0.0,
                    &ds,
                    lk,
                    tq,
                    |i| qt[c * lq + i],
                );
            }
            for j in 0..tk {
                for c in 0..hd {
                    dk[j * d + h * hd + c] = acc_t[c * lk + j];
                }
            }
        }
    }
}

/// For `y = x wᵀ + b` with `x [rows, i]`, `w [o, i]` and output gradient `g [rows, o]`: `(dw, db, dx)`.
fn linear_grads(
    g: &[f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    i: usize,
    o: usize,
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let gm = Mat::new(g, rows, o);
    let mut dw = vec![0f32; o * i];
    gemm(
        &mut MatMut::new(&mut dw, o, i),
        false,
        gm.t(),
        Mat::new(x, rows, i),
        1.0,
        true,
    )?;
    let db = column_sums(g, o);
    let mut dx = vec![0f32; rows * i];
    gemm(
        &mut MatMut::new(&mut dx, rows, i),
        false,
        gm,
        Mat::new(w, o, i),
        1.0,
        true,
    )?;
    Ok((dw, db, dx))
}
