//! The affine layer `y = x @ weight^T + bias` (PyTorch's `nn.Linear` layout) for inputs of any rank.

use candle_core::{Result, Tensor};

/// Applies `x @ w^T + b` over the last axis of `x`.
///
/// Leading dims are folded into one row dim so the whole call is a single 2-D matmul against the transposed
/// weight view (no copy of the weight).
///
/// # Shapes
/// `x [.., in]`, `w [out, in]`, `b [out]` -> `[.., out]`. A rank-1 `x [in]` gives `[out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("linear: input must have at least one dim, got a scalar");
    };
    if last != inp {
        candle_core::bail!("linear: input has {last} features but the weight expects {inp}");
    }
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, inp))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = lead.to_vec();
    out_dims.push(out);
    y.reshape(out_dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn rank3_input_matches_rowwise() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::arange(0f32, 24., &dev)?.reshape((2, 3, 4))?;
        let w = Tensor::arange(0f32, 8., &dev)?.reshape((2, 4))?;
        let b = Tensor::new(&[1f32, -1.], &dev)?;
        let y = linear(&x, &w, Some(&b))?;
        assert_eq!(y.dims(), &[2, 3, 2]);
        // Row [4,5,6,7] (batch 0, step 1): w row 0 = [0,1,2,3] -> 38 + 1; row 1 = [4,5,6,7] -> 126 - 1.
        let row = y.get(0)?.get(1)?.to_vec1::<f32>()?;
        assert_eq!(row, vec![39.0, 125.0]);
        Ok(())
    }

    #[test]
    fn feature_mismatch_is_an_error() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &dev)?;
        let w = Tensor::zeros((2, 4), candle_core::DType::F32, &dev)?;
        assert!(linear(&x, &w, None).is_err());
        Ok(())
    }
}
