//! The attention decoder's numerics (architectures.md §5.4): an LSTM cell over target embeddings, Luong dot
//! attention over the encoder memory with a source mask, `h_att = tanh(W_cat [h; ctx])` and logits
//! `W_out [h_att; e]`. [`teacher_forced`] runs a whole gold sequence at once (training, losses); [`step`] runs one
//! step for a batch of hypotheses (greedy and beam search in `backend::decode`). Both read the same parameters.

use candle_core::{DType, Result, Tensor, D};

use super::activation::{dropout, log_softmax, softmax};
use super::fused;
use super::linear::linear;
use super::params::{prefixed, sub_map, CellParams, EmbeddingParams, LinearParams, ParamMap};
use crate::ir::tokens::PAD;
use crate::ir::{DecoderInit, ParamSpec};
use crate::rng::SeededRng;

/// The score of padded source positions before the softmax (the paper's code uses -1e10, not -inf, so a row
/// with no valid position still gives finite probabilities).
const MASKED: f64 = -1e10;

/// The decoder's parameters, looked up once: the typed parameter set of `attention_decoder`.
#[derive(Clone)]
pub struct DecoderWeights {
    pub embed: Tensor,
    w_ih: Tensor,
    /// `cell.weight_hh [4H, H]`.
    w_hh: Tensor,
    /// `bias_ih + bias_hh`: the LSTM adds both before any non-linearity.
    bias: Tensor,
    cat_w: Tensor,
    cat_b: Tensor,
    out_w: Tensor,
    out_b: Tensor,
}

impl DecoderWeights {
    pub const EMBED: &'static str = "embed.";
    pub const CELL: &'static str = "cell.";
    pub const CAT: &'static str = "cat.";
    pub const OUT: &'static str = "out.";

    /// `embed.weight [V, E]`, the LSTM cell `cell.weight_ih [4H, E]`, `cell.weight_hh [4H, H]`, `cell.bias_ih`,
    /// `cell.bias_hh [4H]`, `cat.weight [H, 2H]`, `cat.bias [H]`, `out.weight [V, H + E]`, `out.bias [V]`.
    pub fn specs(vocab: i64, emb: i64, hidden: i64) -> Vec<ParamSpec> {
        let mut v = prefixed(Self::EMBED, EmbeddingParams::specs(vocab, emb));
        v.extend(prefixed(Self::CELL, CellParams::specs("", 4, hidden, emb)));
        v.extend(prefixed(
            Self::CAT,
            LinearParams::specs(2 * hidden, hidden, true),
        ));
        v.extend(prefixed(
            Self::OUT,
            LinearParams::specs(hidden + emb, vocab, true),
        ));
        v
    }

    pub fn from_map(p: &ParamMap) -> Result<DecoderWeights> {
        let linear = |prefix: &str| -> Result<(Tensor, Tensor)> {
            let l = LinearParams::from_map(&sub_map(p, prefix))?;
            match l.bias {
                Some(b) => Ok((l.weight, b)),
                None => candle_core::bail!("missing parameter `{prefix}bias`"),
            }
        };
        let cell = CellParams::from_map(&sub_map(p, Self::CELL), "")?;
        let (cat_w, cat_b) = linear(Self::CAT)?;
        let (out_w, out_b) = linear(Self::OUT)?;
        Ok(DecoderWeights {
            embed: EmbeddingParams::from_map(&sub_map(p, Self::EMBED))?.weight,
            w_ih: cell.weight_ih,
            w_hh: cell.weight_hh,
            bias: cell.bias_ih.add(&cell.bias_hh)?,
            cat_w,
            cat_b,
            out_w,
            out_b,
        })
    }

    /// Target vocabulary size.
    pub fn vocab(&self) -> Result<usize> {
        self.out_w.dim(0)
    }
}

/// The recurrent state of every row (example or hypothesis).
#[derive(Clone, Debug)]
pub struct DecoderState {
    pub h: Tensor,
    pub c: Tensor,
}

impl DecoderState {
    /// The initial state from the fused vector `init [B, H]`.
    pub fn initial(init: &Tensor, how: DecoderInit) -> Result<DecoderState> {
        let zeros = init.zeros_like()?;
        Ok(match how {
            DecoderInit::Cell => DecoderState {
                h: zeros,
                c: init.clone(),
            },
            DecoderInit::Hidden => DecoderState {
                h: init.clone(),
                c: zeros,
            },
            DecoderInit::Both => DecoderState {
                h: init.clone(),
                c: init.clone(),
            },
        })
    }

    /// Rows `rows` (u32 `[N]`) of the state: reorders and repeats hypotheses in beam search.
    pub fn select(&self, rows: &Tensor) -> Result<DecoderState> {
        Ok(DecoderState {
            // The fused cell returns h and c as views of one [N, 2H] buffer.
            h: self.h.contiguous()?.index_select(rows, 0)?,
            c: self.c.contiguous()?.index_select(rows, 0)?,
        })
    }
}

/// `[B, Tx]`: 0 at valid source positions (`t < lengths[b]`), -1e10 at padding.
pub fn source_mask_bias(lengths: &Tensor, tx: usize, dtype: DType) -> Result<Tensor> {
    let steps = Tensor::arange(0i64, tx as i64, lengths.device())?.unsqueeze(0)?;
    let valid = steps.broadcast_lt(&lengths.to_dtype(DType::I64)?.unsqueeze(1)?)?;
    let zeros = Tensor::zeros(valid.dims(), dtype, lengths.device())?;
    let masked = Tensor::full(MASKED, valid.dims(), lengths.device())?.to_dtype(dtype)?;
    valid.where_cond(&zeros, &masked)
}

/// One LSTM cell step (PyTorch gate order i, f, g, o); `gx [N, 4H]` holds `x W_ih^T + b_ih + b_hh`.
/// The gate math is one fused op (`nn::lstm_cell`, with its own backward), not a dozen element-wise ones.
fn cell(gx: &Tensor, s: &DecoderState, w: &DecoderWeights) -> Result<DecoderState> {
    let gates = gx.add(&s.h.matmul(&w.w_hh.t()?)?)?;
    let (h, c) = super::lstm_cell(&gates, &s.c)?;
    Ok(DecoderState { h, c })
}

/// A linear layer `x wᵀ + b`: [`linear`] where gradients flow, [`infer_linear`] in decoding steps.
type LinearFn = fn(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>;

/// A linear layer without gradients: on f32 CPU tensors the bias is preloaded into the output and the product
/// accumulates onto it (one output buffer and one pass, instead of a product and a broadcast add).
fn infer_linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let x = x.contiguous()?;
    let dense = match b {
        Some(b) => fused::dense::supported(&[&x, w, b]),
        None => fused::dense::supported(&[&x, w]),
    };
    if dense {
        fused::dense::linear_forward(&x, w, b)
    } else {
        linear(&x, w, b)
    }
}

/// Attention and output layers for decoder states `h [N, T, H]` and input embeddings `e [N, T, E]` over
/// `memory [N, Tx, H]` with `mask_bias [N, Tx]` -> logits `[N, T, V]`.
fn readout(
    w: &DecoderWeights,
    h: &Tensor,
    e: &Tensor,
    memory: &Tensor,
    mask_bias: &Tensor,
    linear: LinearFn,
) -> Result<Tensor> {
    // The transposed view goes to the product as it is (strided operands are fine): a contiguous copy of the
    // memory at every decoding step cost as much as the attention itself.
    let scores = h.matmul(&memory.transpose(1, 2)?)?; // [N, T, Tx]
    let scores = scores.broadcast_add(&mask_bias.unsqueeze(1)?)?;
    let attn = softmax(&scores, 2)?;
    let ctx = attn.matmul(memory)?; // [N, T, H]
    let pre = linear(&Tensor::cat(&[h, &ctx], 2)?, &w.cat_w, Some(&w.cat_b))?;
    let h_att = if fused::pointwise::supported(&pre) {
        fused::pointwise::tanh(&pre)?
    } else {
        pre.tanh()?
    };
    linear(&Tensor::cat(&[&h_att, e], 2)?, &w.out_w, Some(&w.out_b))
}

fn embed(w: &DecoderWeights, ids: &Tensor) -> Result<Tensor> {
    let mut dims = ids.dims().to_vec();
    dims.push(w.embed.dim(1)?);
    let flat = ids.flatten_all()?.to_dtype(DType::U32)?;
    w.embed.index_select(&flat, 0)?.reshape(dims)
}

/// Teacher forcing: feeds the gold `targets i64[B, Ty]` and returns `logits [B, Ty, V]`, position t scoring
/// token t + 1. Dropout (`p`, on the embeddings) applies when `rng` is given (training).
pub fn teacher_forced(
    w: &DecoderWeights,
    memory: &Tensor,
    mask_bias: &Tensor,
    state: DecoderState,
    targets: &Tensor,
    p: f64,
    rng: Option<&mut SeededRng>,
) -> Result<Tensor> {
    let (_, ty) = targets.dims2()?;
    let mut e = embed(w, targets)?;
    if let Some(rng) = rng.filter(|_| p > 0.0) {
        e = dropout(&e, p, rng)?;
    }
    // One matmul for the input projections of every step; the recurrence then only multiplies by W_hh.
    let gx = linear(&e, &w.w_ih, Some(&w.bias))?; // [B, Ty, 4H]
    let h = if fused::lstm_sequence::supported(&gx, &state.h, &state.c, &w.w_hh) {
        // The whole recurrence as one op with its own backward (BPTT).
        fused::lstm_sequence::lstm_sequence(&gx, &state.h, &state.c, &w.w_hh)?
    } else {
        let gx = gx.transpose(0, 1)?.contiguous()?; // [Ty, B, 4H]
        let mut s = state;
        let mut hs = Vec::with_capacity(ty);
        for t in 0..ty {
            s = cell(&gx.get(t)?, &s, w)?;
            hs.push(s.h.clone());
        }
        Tensor::stack(&hs, 1)?
    };
    readout(w, &h, &e, memory, mask_bias, linear)
}

/// One decoding step for `N` rows: the previous tokens `prev u32[N]` -> log-probabilities `[N, V]` of the next
/// token, and the new state. Evaluation only (no dropout).
pub fn step(
    w: &DecoderWeights,
    memory: &Tensor,
    mask_bias: &Tensor,
    state: &DecoderState,
    prev: &Tensor,
) -> Result<(Tensor, DecoderState)> {
    let e = embed(w, prev)?; // [N, E]
    let gx = infer_linear(&e, &w.w_ih, Some(&w.bias))?;
    let s = cell(&gx, state, w)?;
    let h = s.h.unsqueeze(1)?;
    let logits = readout(w, &h, &e.unsqueeze(1)?, memory, mask_bias, infer_linear)?;
    let logits = logits.squeeze(1)?;
    let logp = if fused::pointwise::supported(&logits) && logits.is_contiguous() {
        // The logits are this step's own buffer: normalised where they are, no second [N, V] buffer.
        fused::pointwise::log_softmax_last_in_place(&logits)?;
        logits
    } else {
        log_softmax(&logits, 1)?
    };
    Ok((logp, s))
}

/// Sequence cross-entropy: `logits [B, T, V]` at position t against `targets i64[B, T]` at t + 1, PAD (0)
/// targets ignored, averaged over the remaining tokens (0 when there are none).
pub fn next_token_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    if targets.dims() != [b, t] {
        candle_core::bail!(
            "next_token_cross_entropy: logits {:?} but targets {:?}",
            logits.dims(),
            targets.dims()
        );
    }
    if t < 2 {
        return Tensor::zeros((), logits.dtype(), logits.device());
    }
    let rows = b * (t - 1);
    let gold = targets
        .narrow(1, 1, t - 1)?
        .to_dtype(DType::I64)?
        .reshape(rows)?;
    let hi = gold.max_all()?.to_scalar::<i64>()?;
    let lo = gold.min_all()?.to_scalar::<i64>()?;
    if lo < 0 || hi >= v as i64 {
        candle_core::bail!(
            "next_token_cross_entropy: target ids must be in 0..{v}, found {lo}..={hi}"
        );
    }
    if fused::next_token_loss::supported(logits) {
        // One pass over the logits forward and one backward, instead of a dozen of each.
        let gold = gold
            .to_vec1::<i64>()?
            .into_iter()
            .map(|g| g as u32)
            .collect();
        return fused::next_token_loss::next_token_nll(logits, gold);
    }
    next_token_cross_entropy_generic(logits, &gold, rows)
}

/// The reference form of [`next_token_cross_entropy`] in candle ops (other devices and dtypes; the fused op's
/// tests compare against it). `gold i64[rows]` are the shifted targets.
fn next_token_cross_entropy_generic(logits: &Tensor, gold: &Tensor, rows: usize) -> Result<Tensor> {
    let (_, t, v) = logits.dims3()?;
    let logp = log_softmax(&logits.narrow(1, 0, t - 1)?.reshape((rows, v))?, 1)?;
    let classes = Tensor::arange(0i64, v as i64, logits.device())?.unsqueeze(0)?;
    let one_hot = gold
        .unsqueeze(1)?
        .broadcast_eq(&classes)?
        .to_dtype(logp.dtype())?;
    let keep = gold.ne(i64::from(PAD))?.to_dtype(logp.dtype())?;
    let count = keep
        .sum_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?
        .max(1.0);
    let picked = logp.mul(&one_hot)?.sum(D::Minus1)?.mul(&keep)?.sum_all()?;
    picked.affine(-1.0 / count, 0.0)
}

#[cfg(test)]
#[path = "tests/decoder.rs"]
mod tests;
