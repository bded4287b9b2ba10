//! Host kernels for the dense layers every model has: `linear` forward (bias preloaded, one accumulating
//! product) and backward (weight gradient by one product, bias gradient by column sums, input gradient only when
//! asked), and training-mode batch normalisation of `[B, C]` activations. candle computes the same with a fresh
//! buffer per op and slow strided reductions over the batch axis; these read each operand once.

use candle_core::{bail, Result, Tensor};

use super::gemm::{gemm, Mat, MatMut};
use super::host::{self, HostF32};
use super::lstm::column_sums;

fn view(t: &Tensor) -> Result<HostF32<'_>> {
    match HostF32::of(t) {
        Some(v) => Ok(v),
        None => bail!("dense kernel: expected a contiguous f32 CPU tensor"),
    }
}

/// True when every tensor is a contiguous f32 CPU tensor.
pub fn supported(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| host::is_host_f32(t))
}

/// `y = x wᵀ + b` over the last axis of `x`.
///
/// # Shapes
/// `x [.., in]`, `w [out, in]`, `b [out]` -> `[.., out]`.
pub fn linear_forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (out_f, in_f) = w.dims2()?;
    let rows = x.elem_count() / in_f.max(1);
    let (xv, wv) = (view(x)?, view(w)?);
    let bias = match b {
        Some(b) => Some(view(b)?),
        None => None,
    };
    let bias = bias.as_ref().map(|v| v.as_slice());
    let (x_s, w_s) = (xv.as_slice(), wv.as_slice());
    let few_rows = rows * (in_f + out_f) < out_f * in_f;
    let y = linear_forward_host(x_s, w_s, bias, (rows, in_f, out_f), few_rows)?;
    let mut dims = x.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = out_f;
    }
    host::tensor(y, dims)
}

/// `y [rows, out]` written row-major by one accumulating product over the preloaded bias, or (`few_rows`)
/// written transposed, `yᵀ [out, rows]`, over the preloaded bias and then transposed back.
///
/// Why the transposed form: written row-major, the `gemm` crate runs its kernel along `out` and must first
/// copy (pack) all of `w [out, in]` into that order, on every call — at batch 32 that copy took longer than the
/// product (a GAN-Fusion profile: 7.7% of the step packing, 4.3% multiplying). Written transposed, the kernel
/// runs along the rows and reads `w` in place; it packs only `x` (`rows x in`), and the transpose back touches
/// `rows x out` values. The bias is preloaded in both forms: with `in` above the kernel's depth block (512) the
/// product is summed in blocks, and `bias + block 1 + block 2` in that order gives the same bits either way.
fn linear_forward_host(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    (rows, in_f, out_f): (usize, usize, usize),
    few_rows: bool,
) -> Result<Vec<f32>> {
    let mut y = if few_rows {
        super::scratch::zeroed(rows * out_f)
    } else {
        vec![0f32; rows * out_f]
    };
    // Row-major: one bias row per example; transposed: one bias value per column of `yᵀ`'s storage.
    let (dst_rs, dst_cs) = if few_rows { (1, rows) } else { (out_f, 1) };
    if let Some(b) = b {
        if few_rows {
            for (col, bias) in y.chunks_exact_mut(rows.max(1)).zip(b) {
                col.fill(*bias);
            }
        } else {
            for row in y.chunks_exact_mut(out_f) {
                row.copy_from_slice(b);
            }
        }
    }
    gemm(
        &mut MatMut {
            data: &mut y,
            rows,
            cols: out_f,
            rs: dst_rs,
            cs: dst_cs,
        },
        b.is_some(),
        Mat::new(x, rows, in_f),
        Mat::new(w, out_f, in_f).t(),
        1.0,
        true,
    )?;
    if !few_rows {
        return Ok(y);
    }
    let out = super::gemm::transposed(&y, out_f, rows);
    super::scratch::give(y);
    Ok(out)
}

/// Gradients of [`linear_forward`]: `(dx if want_dx, dw and db if want_params)`.
pub fn linear_backward(
    x: &Tensor,
    w: &Tensor,
    g: &Tensor,
    want_dx: bool,
    want_params: bool,
    has_bias: bool,
) -> Result<(Option<Tensor>, Option<(Tensor, Option<Tensor>)>)> {
    let (out_f, in_f) = w.dims2()?;
    let rows = x.elem_count() / in_f.max(1);
    let (xv, wv, gv) = (view(x)?, view(w)?, view(g)?);
    let g_m = Mat::new(gv.as_slice(), rows, out_f);
    let dx = if want_dx {
        let mut dx = vec![0f32; rows * in_f];
        gemm(
            &mut MatMut::new(&mut dx, rows, in_f),
            false,
            g_m,
            Mat::new(wv.as_slice(), out_f, in_f),
            1.0,
            true,
        )?;
        Some(host::tensor(dx, x.dims())?)
    } else {
        None
    };
    let params = if want_params {
        let mut dw = vec![0f32; out_f * in_f];
        gemm(
            &mut MatMut::new(&mut dw, out_f, in_f),
            false,
            g_m.t(),
            Mat::new(xv.as_slice(), rows, in_f),
            1.0,
            true,
        )?;
        let db = if has_bias {
            Some(host::tensor(column_sums(gv.as_slice(), out_f), out_f)?)
        } else {
            None
        };
        Some((host::tensor(dw, (out_f, in_f))?, db))
    } else {
        None
    };
    Ok((dx, params))
}

/// Training-mode batch normalisation of `[B, C]`: the output, `x̂`, the per-channel `1/sqrt(var + eps)`, and the
/// batch mean and biased variance (for the running statistics, which the caller updates).
pub struct BatchNormParts {
    pub y: Tensor,
    pub xhat: Tensor,
    pub rstd: Tensor,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// Statistics in f32 with the same operation order as candle's `mean_keepdim` (sum, then multiply by 1/n) so
/// results agree with the generic path to rounding.
pub fn batch_norm_2d(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<BatchNormParts> {
    let (n, c) = x.dims2()?;
    if n == 0 {
        bail!("batch_norm: empty batch");
    }
    let (xv, wv, bv) = (view(x)?, view(w)?, view(b)?);
    let xs = xv.as_slice();
    let inv_n = 1.0 / n as f32;
    let mut mean = column_sums(xs, c);
    mean.iter_mut().for_each(|m| *m *= inv_n);
    let mut var = vec![0f32; c];
    for row in xs.chunks_exact(c) {
        for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
            let d = x - m;
            *v += d * d;
        }
    }
    var.iter_mut().for_each(|v| *v *= inv_n);
    let std: Vec<f32> = var.iter().map(|v| (v + eps as f32).sqrt()).collect();
    let rstd: Vec<f32> = std.iter().map(|s| 1.0 / s).collect();
    let mut xhat = vec![0f32; n * c];
    let mut y = vec![0f32; n * c];
    let (ws, bs) = (wv.as_slice(), bv.as_slice());
    for ((xr, hr), yr) in xs
        .chunks_exact(c)
        .zip(xhat.chunks_exact_mut(c))
        .zip(y.chunks_exact_mut(c))
    {
        for j in 0..c {
            let h = (xr[j] - mean[j]) / std[j];
            hr[j] = h;
            yr[j] = h * ws[j] + bs[j];
        }
    }
    Ok(BatchNormParts {
        y: host::tensor(y, (n, c))?,
        xhat: host::tensor(xhat, (n, c))?,
        rstd: host::tensor(rstd, (1, c))?,
        mean,
        var,
    })
}

/// The backward pass of [`batch_norm_2d`]: `(dx, dw, db)`.
pub fn batch_norm_2d_backward(
    g: &Tensor,
    xhat: &Tensor,
    rstd: &Tensor,
    w: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, c) = xhat.dims2()?;
    let (gv, hv, rv, wv) = (view(g)?, view(xhat)?, view(rstd)?, view(w)?);
    let (gs, hs, rs, ws) = (gv.as_slice(), hv.as_slice(), rv.as_slice(), wv.as_slice());
    let db = column_sums(gs, c);
    let mut dw = vec![0f32; c];
    for (gr, hr) in gs.chunks_exact(c).zip(hs.chunks_exact(c)) {
        for j in 0..c {
            dw[j] += gr[j] * hr[j];
        }
    }
    // dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)), dx̂ = g · w; mean(dx̂) = w·db/n, mean(dx̂·x̂) = w·dw/n.
    let inv_n = 1.0 / n as f32;
    let mut dx = vec![0f32; n * c];
    for ((gr, hr), dr) in gs
        .chunks_exact(c)
        .zip(hs.chunks_exact(c))
        .zip(dx.chunks_exact_mut(c))
    {
        for j in 0..c {
            let dxhat = gr[j] * ws[j];
            dr[j] = rs[j] * (dxhat - ws[j] * db[j] * inv_n - hr[j] * ws[j] * dw[j] * inv_n);
        }
    }
    Ok((
        host::tensor(dx, (n, c))?,
        host::tensor(dw, c)?,
        host::tensor(db, c)?,
    ))
}

/// Σ x² of a contiguous f32 CPU tensor, accumulated in f64 (the gradient-norm of clipping).
pub fn sum_of_squares(t: &Tensor) -> Option<f64> {
    let v = HostF32::of(t)?;
    #[cfg(target_arch = "x86_64")]
    if super::vmath::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return Some(unsafe { sum_sq_avx2(v.as_slice()) });
    }
    Some(sum_sq(v.as_slice()))
}

/// Eight independent f64 accumulators, so the loop vectorises (one chain would serialise every addition).
#[inline(always)]
fn sum_sq(xs: &[f32]) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let x = f64::from(*x);
            *a += x * x;
        }
    }
    let tail: f64 = tail.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    acc.iter().sum::<f64>() + tail
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_sq_avx2(xs: &[f32]) -> f64 {
    sum_sq(xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two layouts of the forward product give the same bits, with and without bias, including depths
    /// above the GEMM's 512-deep blocks (where the bias must be added before the blocks, in order).
    #[test]
    fn few_rows_layout_gives_the_row_major_bits() {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        };
        for (rows, in_f, out_f) in [
            (1, 7, 5),
            (3, 40, 33),
            (32, 300, 256),
            (17, 1100, 96),
            (32, 768, 256),
        ] {
            let x: Vec<f32> = (0..rows * in_f).map(|_| next()).collect();
            let w: Vec<f32> = (0..out_f * in_f).map(|_| next()).collect();
            let b: Vec<f32> = (0..out_f).map(|_| next()).collect();
            for bias in [None, Some(b.as_slice())] {
                let shape = (rows, in_f, out_f);
                let a = linear_forward_host(&x, &w, bias, shape, false).unwrap();
                let f = linear_forward_host(&x, &w, bias, shape, true).unwrap();
                let same = a.iter().zip(&f).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same, "{rows}x{in_f}->{out_f}, bias {}", bias.is_some());
            }
        }
    }
}
