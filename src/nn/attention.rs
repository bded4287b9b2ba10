//! MulT / fairseq multi-head attention, MulT's pre-LayerNorm transformer layer and the fairseq sinusoidal
//! position table.

use candle_core::{DType, Device, Result, Tensor};

use super::params::{AttentionParams, TransformerParams};
use super::{activation::softmax, dropout, layer_norm, linear};
use crate::rng::SeededRng;

/// LayerNorm epsilon of MulT's transformer layers (PyTorch's default).
const LAYER_NORM_EPS: f64 = 1e-5;

/// Multi-head attention with fairseq's packed projection; see [`attention_with_probs`].
///
/// # Shapes
/// `q [B, Tq, d]`, `kv [B, Tk, d]` (self-attention on `q` when `None`) -> `[B, Tq, d]`.
pub fn attention(
    q: &Tensor,
    kv: Option<&Tensor>,
    p: &AttentionParams,
    heads: usize,
    causal: bool,
    dropout: f64,
    rng: Option<&mut SeededRng>,
) -> Result<Tensor> {
    Ok(attention_with_probs(q, kv, p, heads, causal, dropout, rng)?.0)
}

/// Multi-head attention that also returns the attention probabilities (before dropout).
///
/// Parameters ([`AttentionParams`]): `in_proj_weight [3d, d]` and `in_proj_bias [3d]` with row blocks q, k, v;
/// `out_proj.weight [d, d]`, `out_proj.bias [d]`. Queries are scaled by `head_dim^-0.5`; head `h` owns channels
/// `h*head_dim .. (h+1)*head_dim`. With `causal`, key `j` is masked for query `i` when `j > i + |Tk - Tq|`
/// (MulT's future mask). Dropout on the probabilities applies only when `rng` is given and `dropout > 0`.
///
/// # Shapes
/// `q [B, Tq, d]`, `kv [B, Tk, d]` -> (`[B, Tq, d]`, probabilities `[B, heads, Tq, Tk]`).
pub fn attention_with_probs(
    q: &Tensor,
    kv: Option<&Tensor>,
    p: &AttentionParams,
    heads: usize,
    causal: bool,
    dropout_p: f64,
    rng: Option<&mut SeededRng>,
) -> Result<(Tensor, Tensor)> {
    let (batch, tq, d) = q.dims3()?;
    if heads == 0 || d % heads != 0 {
        candle_core::bail!("attention: model dim {d} is not divisible into {heads} heads");
    }
    let tk = kv.map_or(Ok(tq), |kv| kv.dim(1))?;
    let head_dim = d / heads;
    let (qp, kp, vp) = project_qkv(q, kv, p, d)?;
    let qh = split_heads(&qp.affine((head_dim as f64).powf(-0.5), 0.0)?, heads)?;
    let kh = split_heads(&kp, heads)?;
    let vh = split_heads(&vp, heads)?;
    let mut scores = qh.matmul(&kh.t()?)?; // [B, H, Tq, Tk]
    if causal {
        scores = scores.broadcast_add(&future_mask(tq, tk, q.dtype(), q.device())?)?;
    }
    let probs = softmax(&scores, 3)?;
    let weights = match rng {
        Some(rng) if dropout_p > 0.0 => dropout(&probs, dropout_p, rng)?,
        _ => probs.clone(),
    };
    // [B, H, Tq, hd] -> [B, Tq, H, hd] -> [B, Tq, d]
    let merged = weights
        .matmul(&vh)?
        .transpose(1, 2)?
        .reshape((batch, tq, d))?;
    let out = linear(&merged, &p.out_proj.weight, p.out_proj.bias.as_ref())?;
    Ok((out, probs))
}

/// The q, k, v projections with the packed `in_proj_*` rows. Inputs shared by several projections go through
/// one matmul (all three for self-attention; k and v together for cross-attention).
fn project_qkv(
    q: &Tensor,
    kv: Option<&Tensor>,
    p: &AttentionParams,
    d: usize,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (w, b) = (&p.in_proj_weight, &p.in_proj_bias);
    let rows = |start: usize, n: usize| -> Result<(Tensor, Tensor)> {
        Ok((w.narrow(0, start, n)?, b.narrow(0, start, n)?))
    };
    match kv {
        None => {
            let qkv = linear(q, w, Some(b))?; // [B, T, 3d]
            Ok((
                qkv.narrow(2, 0, d)?,
                qkv.narrow(2, d, d)?,
                qkv.narrow(2, 2 * d, d)?,
            ))
        }
        Some(kv) => {
            let (wq, bq) = rows(0, d)?;
            let (wkv, bkv) = rows(d, 2 * d)?;
            let qp = linear(q, &wq, Some(&bq))?;
            let kvp = linear(kv, &wkv, Some(&bkv))?; // [B, Tk, 2d]
            Ok((qp, kvp.narrow(2, 0, d)?, kvp.narrow(2, d, d)?))
        }
    }
}

/// `[B, T, d] -> [B, H, T, d/H]`, contiguous for the batched matmuls.
fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (batch, time, d) = x.dims3()?;
    x.reshape((batch, time, heads, d / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// `[Tq, Tk]` additive mask: `-inf` where `j > i + |Tk - Tq|`, else 0. Every row keeps key 0, so no row is all
/// `-inf` and the softmax stays finite.
fn future_mask(tq: usize, tk: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let offset = tk.abs_diff(tq);
    let values: Vec<f32> = (0..tq)
        .flat_map(|i| {
            (0..tk).map(move |j| {
                if j > i + offset {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (tq, tk), device)?.to_dtype(dtype)
}

/// MulT's pre-LayerNorm transformer encoder layer.
///
/// ```text
/// xn = LN0(x); kvn = LN0(kv) (the same LayerNorm; kvn = xn for self-attention)
/// x1 = x + dropout_res(attn(xn, kvn))
/// out = x1 + dropout_res(fc2(dropout_relu(relu(fc1(LN1(x1))))))
/// ```
/// Parameters ([`TransformerParams`]): `ln0.*`, `attn.*` (as [`attention`]), `ln1.*`, `fc1.weight [ff, d]`,
/// `fc1.bias`, `fc2.weight [d, ff]`, `fc2.bias`. Dropouts apply only when `rng` is given.
///
/// # Shapes
/// `x [B, Tq, d]`, `kv [B, Tk, d]` (optional) -> `[B, Tq, d]`.
#[allow(clippy::too_many_arguments)]
pub fn transformer_layer(
    x: &Tensor,
    kv: Option<&Tensor>,
    p: &TransformerParams,
    heads: usize,
    causal: bool,
    attn_dropout: f64,
    relu_dropout: f64,
    res_dropout: f64,
    rng: Option<&mut SeededRng>,
) -> Result<Tensor> {
    let mut rng = rng;
    let ln0 = |t: &Tensor| layer_norm(t, &p.ln0.weight, &p.ln0.bias, LAYER_NORM_EPS);
    let xn = ln0(x)?;
    let kvn = kv.map(ln0).transpose()?;
    let a = attention(
        &xn,
        kvn.as_ref(),
        &p.attn,
        heads,
        causal,
        attn_dropout,
        rng.as_deref_mut(),
    )?;
    let x1 = x.add(&maybe_dropout(&a, res_dropout, rng.as_deref_mut())?)?;
    let y = layer_norm(&x1, &p.ln1.weight, &p.ln1.bias, LAYER_NORM_EPS)?;
    let y = linear(&y, &p.fc1.weight, p.fc1.bias.as_ref())?.relu()?;
    let y = maybe_dropout(&y, relu_dropout, rng.as_deref_mut())?;
    let y = linear(&y, &p.fc2.weight, p.fc2.bias.as_ref())?;
    x1.add(&maybe_dropout(&y, res_dropout, rng)?)
}

fn maybe_dropout(x: &Tensor, p: f64, rng: Option<&mut SeededRng>) -> Result<Tensor> {
    match rng {
        Some(rng) if p > 0.0 => dropout(x, p, rng),
        _ => Ok(x.clone()),
    }
}

/// The fairseq / MulT sinusoidal table for positions `1..=t`: row `p - 1` is
/// `[sin(p * f_0), .., sin(p * f_{h-1}), cos(p * f_0), .., cos(p * f_{h-1})]` with `h = d / 2` and
/// `f_i = exp(-i * ln(10000) / (h - 1))` (a zero column is appended when `d` is odd).
///
/// # Shapes
/// -> `[t, d]` (f32).
pub fn positions(t: usize, d: usize, device: &Device) -> Result<Tensor> {
    let freqs = position_frequencies(d)?;
    let mut table = Vec::with_capacity(t * d);
    for pos in 1..=t {
        let pos = pos as f64;
        table.extend(freqs.iter().map(|f| (pos * f).sin() as f32));
        table.extend(freqs.iter().map(|f| (pos * f).cos() as f32));
        if d % 2 == 1 {
            table.push(0.0);
        }
    }
    Tensor::from_vec(table, (t, d), device)
}

/// The `d / 2` inverse frequencies of [`positions`]: `f_i = exp(-i * ln(10000) / (d/2 - 1))`.
pub fn position_frequencies(d: usize) -> Result<Vec<f64>> {
    let half = d / 2;
    if half < 2 {
        // fairseq divides by half - 1, so the table is undefined below d = 4.
        candle_core::bail!("positions: the embedding dim must be at least 4, got {d}");
    }
    let step = (10000f64).ln() / (half - 1) as f64;
    Ok((0..half).map(|i| (-(i as f64) * step).exp()).collect())
}
