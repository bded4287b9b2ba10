//! Tensor algebra with PyTorch semantics: outer products for tensor fusion, `torch.matmul` with broadcasting of
//! leading dims, NumPy-broadcast element-wise arithmetic, and the sequence helpers `last_valid` and `pad`.

use candle_core::{DType, Result, Tensor};

use crate::ir::BinaryOp;

/// Per-example outer product, flattened row-major: `out[b, i*n + j] = a[b, i] * b[b, j]`.
///
/// # Shapes
/// `a [B, m]`, `b [B, n]` -> `[B, m*n]`.
pub fn outer(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (batch, m) = a.dims2()?;
    let (batch_b, n) = b.dims2()?;
    if batch != batch_b {
        candle_core::bail!("outer: batch sizes differ ({batch} and {batch_b})");
    }
    // [B, m, 1] * [B, 1, n] -> [B, m, n]
    let prod = a.unsqueeze(2)?.broadcast_mul(&b.unsqueeze(1)?)?;
    prod.reshape((batch, m * n))
}

/// Matrix product with `torch.matmul` semantics.
///
/// Rank-1 operands are promoted (a vector on the left gets a leading 1, on the right a trailing 1) and the added
/// dim is removed from the result; leading (batch) dims broadcast as in NumPy.
///
/// # Shapes
/// `[k] @ [k]` -> `[]`; `[.., n, k] @ [k]` -> `[.., n]`; `[k] @ [.., k, m]` -> `[.., m]`;
/// `[..a, n, k] @ [..b, k, m]` -> `[broadcast(..a, ..b), n, m]`, e.g. `[B, d] @ [r, d, o]` -> `[r, B, o]`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // Permuted operands (a `transpose` in the graph) are copied once: BLAS back ends accept only simple strides.
    let (a, b) = (&a.contiguous()?, &b.contiguous()?);
    match (a.rank(), b.rank()) {
        (0, _) | (_, 0) => candle_core::bail!("matmul: both operands need at least one dim"),
        (1, 1) => a.unsqueeze(0)?.matmul(&b.unsqueeze(1)?)?.reshape(()),
        (1, _) => {
            let y = a.unsqueeze(0)?.broadcast_matmul(b)?;
            y.squeeze(y.rank() - 2)
        }
        (_, 1) => {
            let y = a.broadcast_matmul(&b.unsqueeze(1)?)?;
            y.squeeze(y.rank() - 1)
        }
        _ => a.broadcast_matmul(b),
    }
}

/// Element-wise arithmetic with NumPy broadcasting (dims aligned from the right; size-1 dims stretch).
///
/// # Shapes
/// `a [..a]`, `b [..b]` -> `[broadcast(..a, ..b)]`.
pub fn broadcast_binary(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    match op {
        BinaryOp::Add => a.broadcast_add(b),
        BinaryOp::Sub => a.broadcast_sub(b),
        BinaryOp::Mul => a.broadcast_mul(b),
        BinaryOp::Div => a.broadcast_div(b),
    }
}

/// `seq [B, T, D]` at step `lengths[b] - 1` of each example -> `[B, D]`.
pub fn last_valid(seq: &Tensor, lengths: &Tensor) -> Result<Tensor> {
    let (b, t, d) = seq.dims3()?;
    let idx: Vec<u32> = lengths
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|l| (l.clamp(1, t as i64) - 1) as u32)
        .collect();
    let idx = Tensor::from_vec(idx, (b, 1, 1), seq.device())?
        .broadcast_as((b, 1, d))?
        .contiguous()?;
    seq.gather(&idx, 1)?.squeeze(1)
}

/// Pads `before` and `after` entries of `value` along axis `ax` (TFN's constant 1 is `before = 1, value = 1`).
pub fn pad(x: &Tensor, ax: usize, before: i64, after: i64, value: f64) -> Result<Tensor> {
    let mut parts = Vec::with_capacity(3);
    let block = |n: i64| -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        dims[ax] = n as usize;
        Tensor::full(value as f32, dims, x.device())?.to_dtype(x.dtype())
    };
    if before > 0 {
        parts.push(block(before)?);
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(block(after)?);
    }
    Tensor::cat(&parts, ax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matmul_rank_handling() -> Result<()> {
        let dev = Device::Cpu;
        let v = Tensor::new(&[1f32, 2.], &dev)?;
        let m = Tensor::new(&[[1f32, 0.], [0., 3.]], &dev)?;
        assert_eq!(matmul(&v, &v)?.to_scalar::<f32>()?, 5.0);
        assert_eq!(matmul(&m, &v)?.to_vec1::<f32>()?, vec![1.0, 6.0]);
        assert_eq!(matmul(&v, &m)?.to_vec1::<f32>()?, vec![1.0, 6.0]);
        let stacked = Tensor::stack(&[&m, &m, &m], 0)?; // [3, 2, 2]
        assert_eq!(matmul(&v, &stacked)?.dims(), &[3, 2]);
        assert_eq!(matmul(&stacked, &v)?.dims(), &[3, 2]);
        Ok(())
    }

    #[test]
    fn matmul_broadcasts_leading_dims() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::arange(0f32, 6., &dev)?.reshape((3, 2))?; // [B=3, d=2]
        let f = Tensor::arange(0f32, 16., &dev)?.reshape((4, 2, 2))?; // [r=4, d=2, o=2]
        let y = matmul(&a, &f)?;
        assert_eq!(y.dims(), &[4, 3, 2]);
        let direct = a.matmul(&f.get(2)?)?;
        assert_eq!(y.get(2)?.to_vec2::<f32>()?, direct.to_vec2::<f32>()?);
        let b = Tensor::zeros((5, 1, 2, 3), candle_core::DType::F32, &dev)?;
        let c = Tensor::zeros((4, 3, 7), candle_core::DType::F32, &dev)?;
        assert_eq!(matmul(&b, &c)?.dims(), &[5, 4, 2, 7]);
        Ok(())
    }

    #[test]
    fn outer_is_row_major() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::new(&[[1f32, 2.]], &dev)?;
        let b = Tensor::new(&[[3f32, 4., 5.]], &dev)?;
        assert_eq!(
            outer(&a, &b)?.to_vec2::<f32>()?,
            vec![vec![3.0, 4.0, 5.0, 6.0, 8.0, 10.0]]
        );
        Ok(())
    }
}
