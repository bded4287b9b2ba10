//! Shape and dtype rules of the layer ops (those that own parameters, and the sequence ops around them).
//! Size attributes arrive already folded to numbers by the checker.

use super::rules::{fixed, need_float, need_int, need_rank, same_dim, tt, Rule, RuleError};
use crate::ir::{Cell, Dim, Dtype, Merge, TensorType};

/// Every size that owns parameters must be positive.
pub fn positive(n: i64, what: &str) -> Rule<i64> {
    if n > 0 {
        return Ok(n);
    }
    Err(RuleError::new(
        "fusec::shape::size",
        format!("{what} must be a positive number, found {n}"),
    ))
}

/// `[.., in] -> [.., out]`; `in` must be fixed because it sizes the weight.
pub fn linear(x: &TensorType, out: i64) -> Rule<TensorType> {
    need_float(x, "linear")?;
    if x.rank() == 0 {
        return Err(RuleError::new(
            "fusec::shape::rank",
            format!("linear needs a tensor of rank >= 1, found {x}"),
        ));
    }
    fixed(&x.dims[x.rank() - 1], "linear: the input width")?;
    positive(out, "linear: `out`")?;
    let mut dims = x.dims.clone();
    dims[x.rank() - 1] = Dim::Fixed(out);
    Ok(tt(x.dtype, dims))
}

/// `i64[..] -> f32[.., dim]`.
pub fn embedding(ids: &TensorType, vocab: i64, dim: i64) -> Rule<TensorType> {
    need_int(ids, "embedding")?;
    positive(vocab, "embedding: `vocab`")?;
    positive(dim, "embedding: `dim`")?;
    let mut dims = ids.dims.clone();
    dims.push(Dim::Fixed(dim));
    Ok(tt(Dtype::F32, dims))
}

/// Normalisation over the last axis (layer_norm) or over the channel axis 1 (batch_norm).
pub fn norm(x: &TensorType, batch: bool) -> Rule<TensorType> {
    let what = if batch { "batch_norm" } else { "layer_norm" };
    need_float(x, what)?;
    if batch {
        need_rank(x, &[2, 3], what)?;
        fixed(&x.dims[1], "batch_norm: the channel dim (axis 1)")?;
    } else {
        if x.rank() == 0 {
            return Err(RuleError::new(
                "fusec::shape::rank",
                format!("layer_norm needs a tensor of rank >= 1, found {x}"),
            ));
        }
        fixed(&x.dims[x.rank() - 1], "layer_norm: the normalised width")?;
    }
    Ok(x.clone())
}

/// `lstm`/`gru`: ports seq, h (and c for LSTM). `merge` applies to the directions of both seq and h, so a
/// summed bidirectional encoder gives `[B, H]` everywhere (the MMT encoder's `z_t`).
pub fn recurrent(
    x: &TensorType,
    lengths: Option<&TensorType>,
    cell: Cell,
    hidden: i64,
    bidirectional: bool,
    merge: Merge,
) -> Rule<Vec<TensorType>> {
    let what = if cell == Cell::Lstm { "lstm" } else { "gru" };
    need_float(x, what)?;
    need_rank(x, &[3], what)?;
    fixed(&x.dims[2], &format!("{what}: the input width"))?;
    positive(hidden, &format!("{what}: `hidden`"))?;
    if let Some(l) = lengths {
        check_lengths(x, l, what)?;
    }
    let width = if bidirectional && merge == Merge::Concat {
        2 * hidden
    } else {
        hidden
    };
    let (b, t) = (x.dims[0].clone(), x.dims[1].clone());
    let seq = tt(x.dtype, vec![b.clone(), t, Dim::Fixed(width)]);
    let h = tt(x.dtype, vec![b, Dim::Fixed(width)]);
    let mut ports = vec![seq, h.clone()];
    if cell == Cell::Lstm {
        ports.push(h);
    }
    Ok(ports)
}

fn check_lengths(seq: &TensorType, lengths: &TensorType, what: &str) -> Rule<()> {
    need_int(lengths, &format!("{what}: `lengths`"))?;
    need_rank(lengths, &[1], &format!("{what}: `lengths`"))?;
    same_dim(
        &seq.dims[0],
        &lengths.dims[0],
        &format!("{what}: batch dims of the sequence and the lengths"),
        seq,
        lengths,
    )
}

/// `attention_decoder(memory [B, Tx, H], lengths i64[B], init [B, H], targets i64[B, Ty]) -> [B, Ty, V]`.
pub fn decoder(ins: [&TensorType; 4], vocab: i64, emb: i64) -> Rule<TensorType> {
    let [memory, lengths, init, targets] = ins;
    let what = "attention_decoder";
    need_float(memory, what)?;
    need_rank(memory, &[3], "attention_decoder: `memory`")?;
    let h = fixed(&memory.dims[2], "attention_decoder: the memory width")?;
    check_lengths(memory, lengths, what)?;
    need_float(init, "attention_decoder: `init`")?;
    need_rank(init, &[2], "attention_decoder: `init`")?;
    same_dim(
        &memory.dims[0],
        &init.dims[0],
        "attention_decoder: batch dims of memory and init",
        memory,
        init,
    )?;
    if init.dims[1].fixed() != Some(h) {
        return Err(RuleError::new(
            "fusec::shape::mismatch",
            format!("attention_decoder: `init` {init} must have the memory's width {h}"),
        )
        .help("the decoder's state size is the memory width; project the fused vector with `linear(z, H)`"));
    }
    need_int(targets, "attention_decoder: `targets`")?;
    need_rank(targets, &[2], "attention_decoder: `targets`")?;
    same_dim(
        &memory.dims[0],
        &targets.dims[0],
        "attention_decoder: batch dims of memory and targets",
        memory,
        targets,
    )?;
    positive(vocab, "attention_decoder: `vocab`")?;
    positive(emb, "attention_decoder: `emb`")?;
    Ok(tt(
        Dtype::F32,
        vec![
            targets.dims[0].clone(),
            targets.dims[1].clone(),
            Dim::Fixed(vocab),
        ],
    ))
}

/// `last_valid(seq [B, T, D], lengths i64[B]) -> [B, D]`.
pub fn last_valid(seq: &TensorType, lengths: &TensorType) -> Rule<TensorType> {
    need_rank(seq, &[3], "last_valid")?;
    check_lengths(seq, lengths, "last_valid")?;
    Ok(tt(
        seq.dtype,
        vec![seq.dims[0].clone(), seq.dims[2].clone()],
    ))
}

/// Multi-head attention and the transformer layer: `q [B, Tq, d]`, optional `kv [B, Tk, d]` -> `[B, Tq, d]`.
pub fn attention(
    q: &TensorType,
    kv: Option<&TensorType>,
    heads: u32,
    what: &str,
) -> Rule<TensorType> {
    need_float(q, what)?;
    need_rank(q, &[3], what)?;
    let d = fixed(&q.dims[2], &format!("{what}: the model width"))?;
    if heads == 0 || d % i64::from(heads) != 0 {
        return Err(RuleError::new(
            "fusec::shape::size",
            format!("{what}: the width {d} is not divisible by {heads} heads"),
        )
        .help("choose `heads` so that each head gets width / heads dims"));
    }
    if let Some(kv) = kv {
        need_float(kv, what)?;
        need_rank(kv, &[3], what)?;
        same_dim(
            &q.dims[0],
            &kv.dims[0],
            &format!("{what}: batch dims of the query and the memory"),
            q,
            kv,
        )?;
        same_dim(
            &q.dims[2],
            &kv.dims[2],
            &format!("{what}: widths of the query and the memory"),
            q,
            kv,
        )?;
    }
    Ok(q.clone())
}

/// `[B, T, d] -> f32[T, d]`.
pub fn positions(x: &TensorType) -> Rule<TensorType> {
    need_rank(x, &[3], "positions")?;
    let width = fixed(&x.dims[2], "positions: the width")?;
    // fairseq's sinusoidal table divides by `width / 2 - 1`: it is undefined below a width of 4.
    if width < 4 {
        return Err(RuleError::new(
            "fusec::shape::size",
            format!("positions: the width must be at least 4, got {width}"),
        )
        .help("sinusoidal positions need at least two frequencies: give the sequence (or the block's `width`) 4 or more features"));
    }
    Ok(tt(Dtype::F32, vec![x.dims[1].clone(), x.dims[2].clone()]))
}

/// Output length of a convolution along one axis: `(n + 2p - k) / s + 1`. A symbolic length survives only a
/// "same" convolution (stride 1, `k = 2p + 1`), the MulT projection's case.
pub fn conv_len(n: &Dim, kernel: i64, stride: i64, padding: i64, what: &str) -> Rule<Dim> {
    // Bounded so that parameter counts (`C·k·k·out`) cannot overflow.
    let limit = 1 << 15;
    if kernel <= 0
        || stride <= 0
        || padding < 0
        || kernel > limit
        || stride > limit
        || padding > limit
    {
        return Err(RuleError::new(
            "fusec::shape::size",
            format!("{what}: kernel {kernel}, stride {stride}, padding {padding} are not valid"),
        ));
    }
    match n {
        Dim::Fixed(n) => {
            let span = n + 2 * padding - kernel;
            if span < 0 {
                return Err(RuleError::new(
                    "fusec::shape::size",
                    format!("{what}: the input length {n} is shorter than the kernel {kernel}"),
                ));
            }
            Ok(Dim::Fixed(span / stride + 1))
        }
        Dim::Sym(_) if stride == 1 && kernel == 2 * padding + 1 => Ok(n.clone()),
        Dim::Sym(s) => Err(RuleError::new(
            "fusec::shape::not_fixed",
            format!(
                "{what}: the output length over the symbolic dim `{s}` is not a dim fusec can name"
            ),
        )
        .help(
        "a symbolic length is kept only by an odd kernel at stride 1 with padding (kernel - 1) / 2 \
         (std.encoders.ConvEncoder pads so); otherwise declare a fixed length",
    )),
    }
}

/// `conv1d`: `[B, T, C] -> [B, T', out]` (time-major as MulT).
pub fn conv1d(
    x: &TensorType,
    out: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> Rule<TensorType> {
    need_float(x, "conv1d")?;
    need_rank(x, &[3], "conv1d")?;
    fixed(&x.dims[2], "conv1d: the input channels")?;
    positive(out, "conv1d: `out`")?;
    let t = conv_len(&x.dims[1], kernel, stride, padding, "conv1d")?;
    Ok(tt(x.dtype, vec![x.dims[0].clone(), t, Dim::Fixed(out)]))
}

/// `conv2d`: `[B, C, H, W] -> [B, out, H', W']`.
pub fn conv2d(
    x: &TensorType,
    out: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> Rule<TensorType> {
    need_float(x, "conv2d")?;
    need_rank(x, &[4], "conv2d")?;
    fixed(&x.dims[1], "conv2d: the input channels")?;
    positive(out, "conv2d: `out`")?;
    let h = conv_len(&x.dims[2], kernel, stride, padding, "conv2d")?;
    let w = conv_len(&x.dims[3], kernel, stride, padding, "conv2d")?;
    Ok(tt(x.dtype, vec![x.dims[0].clone(), Dim::Fixed(out), h, w]))
}

#[cfg(test)]
#[path = "tests/rules_nn.rs"]
mod tests;
