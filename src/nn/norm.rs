//! Layer normalisation and batch normalisation, differentiable (candle-nn's fused `LayerNorm` has no backward
//! pass) and following PyTorch's statistics: biased variance to normalise, unbiased variance for running stats.

use candle_core::{Result, Tensor, Var};

/// Normalises over the last axis: `(x - mean) / sqrt(var + eps) * w + b`, with the biased variance.
///
/// # Shapes
/// `x [.., d]`, `w [d]`, `b [d]` -> `[.., d]`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    if let Some(dtype) = super::half_type(x) {
        // Mixed precision: the statistics of a bf16 row lose too many bits, so they are taken in f32.
        let f = |t: &Tensor| t.to_dtype(candle_core::DType::F32);
        return layer_norm(&f(x)?, &f(w)?, &f(b)?, eps)?.to_dtype(dtype);
    }
    let axis = x.rank().saturating_sub(1);
    let centered = x.broadcast_sub(&x.mean_keepdim(axis)?)?;
    let var = centered.sqr()?.mean_keepdim(axis)?;
    let normed = centered.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(w)?.broadcast_add(b)
}

/// Layer normalisation that also returns what its backward pass needs: the normalised input `x̂` and
/// `1/sqrt(var + eps)` (kept with a trailing size-1 axis). The output equals [`layer_norm`]'s bit for bit.
///
/// # Shapes
/// `x [.., d]`, `w [d]`, `b [d]` -> (`[.., d]`, `x̂ [.., d]`, `rstd [.., 1]`).
pub fn layer_norm_parts(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let axis = x.rank().saturating_sub(1);
    let centered = x.broadcast_sub(&x.mean_keepdim(axis)?)?;
    let var = centered.sqr()?.mean_keepdim(axis)?;
    let std = (var + eps)?.sqrt()?;
    let normed = centered.broadcast_div(&std)?;
    let y = normed.broadcast_mul(w)?.broadcast_add(b)?;
    Ok((y, normed, std.recip()?))
}

/// The backward pass of layer normalisation from [`layer_norm_parts`]' `x̂` and `rstd`: the input gradient and
/// the weight and bias gradients.
pub fn layer_norm_backward(
    g: &Tensor,
    xhat: &Tensor,
    rstd: &Tensor,
    w: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let axis = xhat.rank().saturating_sub(1);
    let d = xhat.dim(axis)? as f64;
    let lead: Vec<usize> = (0..axis).collect();
    let dw = if lead.is_empty() {
        g.mul(xhat)?
    } else {
        g.mul(xhat)?.sum(lead.as_slice())?
    };
    let db = if lead.is_empty() {
        g.clone()
    } else {
        g.sum(lead.as_slice())?
    };
    let dxhat = g.broadcast_mul(w)?;
    let mean_d = dxhat.sum_keepdim(axis)?.affine(1.0 / d, 0.0)?;
    let mean_dx = dxhat.mul(xhat)?.sum_keepdim(axis)?.affine(1.0 / d, 0.0)?;
    let dx = dxhat
        .broadcast_sub(&mean_d)?
        .sub(&xhat.broadcast_mul(&mean_dx)?)?
        .broadcast_mul(rstd)?;
    Ok((dx, dw, db))
}

/// Batch normalisation in training mode that also returns what its backward pass needs: `x̂` and
/// `1/sqrt(var + eps)` per channel (shaped for broadcasting). Same outputs and running-statistics updates as
/// [`batch_norm`] in training mode.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train_parts(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    eps: f64,
    momentum: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (axes, channel_shape): (Vec<usize>, Vec<usize>) = match x.dims() {
        [_, c] => (vec![0], vec![1, *c]),
        [_, c, _] => (vec![0, 2], vec![1, *c, 1]),
        dims => candle_core::bail!("batch_norm expects [B, C] or [B, C, L], got {dims:?}"),
    };
    let (mean, var) = batch_stats(x, &axes, running_mean, running_var, momentum)?;
    let std = (var + eps)?.sqrt()?;
    let normed = x.broadcast_sub(&mean)?.broadcast_div(&std)?;
    let w = w.reshape(channel_shape.as_slice())?;
    let b = b.reshape(channel_shape.as_slice())?;
    let y = normed.broadcast_mul(&w)?.broadcast_add(&b)?;
    Ok((y, normed, std.recip()?))
}

/// The backward pass of training-mode batch normalisation: input, weight and bias gradients.
pub fn batch_norm_backward(
    g: &Tensor,
    xhat: &Tensor,
    rstd: &Tensor,
    w: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let axes: Vec<usize> = match xhat.rank() {
        2 => vec![0],
        _ => vec![0, 2],
    };
    let n: usize = axes.iter().map(|&a| xhat.dims()[a]).product();
    let c = xhat.dim(1)?;
    let shape: Vec<usize> = if xhat.rank() == 2 {
        vec![1, c]
    } else {
        vec![1, c, 1]
    };
    let dw = g.mul(xhat)?.sum_keepdim(axes.as_slice())?;
    let db = g.sum_keepdim(axes.as_slice())?;
    let dxhat = g.broadcast_mul(&w.reshape(shape.as_slice())?)?;
    let mean_d = dxhat
        .sum_keepdim(axes.as_slice())?
        .affine(1.0 / n as f64, 0.0)?;
    let mean_dx = dxhat
        .mul(xhat)?
        .sum_keepdim(axes.as_slice())?
        .affine(1.0 / n as f64, 0.0)?;
    let dx = dxhat
        .broadcast_sub(&mean_d)?
        .sub(&xhat.broadcast_mul(&mean_dx)?)?
        .broadcast_mul(rstd)?;
    Ok((dx, dw.flatten_all()?, db.flatten_all()?))
}

/// Batch normalisation over the batch (and length) axes, per channel.
///
/// Training: normalises with the biased batch variance and updates the running statistics in place with
/// `running = (1 - momentum) * running + momentum * stat`, using the unbiased variance (PyTorch's rule); errors
/// when fewer than two values per channel are seen. Evaluation: normalises with the running statistics.
/// The running statistics never receive gradients.
///
/// # Shapes
/// `x [B, C]` or `[B, C, L]`, `w [C]`, `b [C]`, `running_mean [C]`, `running_var [C]` -> same shape as `x`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    train: bool,
    eps: f64,
    momentum: f64,
) -> Result<Tensor> {
    let (axes, channel_shape): (Vec<usize>, Vec<usize>) = match x.dims() {
        [_, c] => (vec![0], vec![1, *c]),
        [_, c, _] => (vec![0, 2], vec![1, *c, 1]),
        dims => candle_core::bail!("batch_norm expects [B, C] or [B, C, L], got {dims:?}"),
    };
    let (mean, var) = if train {
        batch_stats(x, &axes, running_mean, running_var, momentum)?
    } else {
        let mean = running_mean
            .as_tensor()
            .detach()
            .reshape(channel_shape.as_slice())?;
        let var = running_var
            .as_tensor()
            .detach()
            .reshape(channel_shape.as_slice())?;
        (mean, var)
    };
    let normed = x
        .broadcast_sub(&mean)?
        .broadcast_div(&(var + eps)?.sqrt()?)?;
    let w = w.reshape(channel_shape.as_slice())?;
    let b = b.reshape(channel_shape.as_slice())?;
    normed.broadcast_mul(&w)?.broadcast_add(&b)
}

/// Batch mean and biased variance over `axes` (kept as size-1 dims), updating the running statistics.
fn batch_stats(
    x: &Tensor,
    axes: &[usize],
    running_mean: &Var,
    running_var: &Var,
    momentum: f64,
) -> Result<(Tensor, Tensor)> {
    let n: usize = axes.iter().map(|&a| x.dims()[a]).product();
    if n < 2 {
        candle_core::bail!("batch_norm in training needs more than one value per channel, got {n}");
    }
    let mean = x.mean_keepdim(axes)?;
    let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(axes)?;
    update_running(running_mean, &mean, momentum)?;
    // The running variance uses the unbiased estimate, var * n / (n - 1).
    let unbiased = var.affine(n as f64 / (n - 1) as f64, 0.0)?;
    update_running(running_var, &unbiased, momentum)?;
    Ok((mean, var))
}

/// Updates batch norm's running statistics from a batch's mean and biased variance over `n` values per channel
/// (the unbiased variance goes into the running variance, as in PyTorch).
pub fn update_running_stats(
    running_mean: &Var,
    running_var: &Var,
    mean: &Tensor,
    var: &Tensor,
    n: usize,
    momentum: f64,
) -> Result<()> {
    if n < 2 {
        candle_core::bail!("batch_norm in training needs more than one value per channel, got {n}");
    }
    update_running(running_mean, mean, momentum)?;
    let unbiased = var.affine(n as f64 / (n - 1) as f64, 0.0)?;
    update_running(running_var, &unbiased, momentum)
}

/// `running = (1 - momentum) * running + momentum * stat`, computed outside the autograd graph.
fn update_running(running: &Var, stat: &Tensor, momentum: f64) -> Result<()> {
    let stat = stat.detach().flatten_all()?.to_dtype(running.dtype())?;
    let old = running.as_tensor().detach();
    let new = (old.affine(1.0 - momentum, 0.0)? + stat.affine(momentum, 0.0)?)?;
    running.set(&new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn single_value_per_channel_is_an_error_in_training() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::ones((1, 3), DType::F32, &dev)?;
        let ones = Tensor::ones(3, DType::F32, &dev)?;
        let zeros = Tensor::zeros(3, DType::F32, &dev)?;
        let rm = Var::from_tensor(&zeros)?;
        let rv = Var::from_tensor(&ones)?;
        assert!(batch_norm(&x, &ones, &zeros, &rm, &rv, true, 1e-5, 0.1).is_err());
        // Evaluation uses the running stats, so one example is fine.
        let y = batch_norm(&x, &ones, &zeros, &rm, &rv, false, 0.0, 0.1)?;
        assert_eq!(y.to_vec2::<f32>()?, vec![vec![1.0, 1.0, 1.0]]);
        Ok(())
    }

    #[test]
    fn running_stats_follow_pytorch_rule() -> Result<()> {
        let dev = Device::Cpu;
        // One channel, values 1 and 3: mean 2, biased var 1, unbiased var 2.
        let x = Tensor::new(&[[1f32], [3.]], &dev)?;
        let ones = Tensor::ones(1, DType::F32, &dev)?;
        let zeros = Tensor::zeros(1, DType::F32, &dev)?;
        let rm = Var::from_tensor(&zeros)?;
        let rv = Var::from_tensor(&ones)?;
        let y = batch_norm(&x, &ones, &zeros, &rm, &rv, true, 0.0, 0.1)?;
        assert_eq!(y.to_vec2::<f32>()?, vec![vec![-1.0], vec![1.0]]);
        assert!((rm.to_vec1::<f32>()?[0] - 0.2).abs() < 1e-7);
        assert!((rv.to_vec1::<f32>()?[0] - 1.1).abs() < 1e-6);
        Ok(())
    }
}
