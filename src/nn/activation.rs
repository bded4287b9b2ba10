//! Element-wise activations, softmax / log-softmax and dropout, with gradients that match PyTorch.
//!
//! candle's fused activations were checked against the `linear_act` fixture (values, derivatives on a grid from
//! -20 to 20, and gradients): `tanh`, `relu`, candle-nn's `sigmoid`, `gelu_erf` and `gelu` (tanh form) agree within
//! 3e-7, so they are used as they are (the GELU backward passes use six-digit constants, a relative error below
//! 1e-6). Leaky ReLU and softmax are written here: candle-nn's `softmax_last_dim` has no backward pass.

use candle_core::{DType, Result, Tensor};

use crate::ir::Activation;
use crate::rng::SeededRng;

/// Applies an activation element-wise.
///
/// # Shapes
/// `x [..]` -> `[..]` (same shape).
pub fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Identity => Ok(x.clone()),
        // candle's relu passes gradient 1 at exactly 0 where PyTorch passes 0; inputs sitting exactly on the kink
        // have measure zero in training, so the faster fused op is kept.
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        // candle-nn's sigmoid is a fused op with an exact backward pass (s * (1 - s)).
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::LeakyRelu { slope } => leaky_relu(x, slope),
        Activation::Gelu { tanh: false } => x.gelu_erf(),
        Activation::Gelu { tanh: true } => x.gelu(),
    }
}

/// `x` where `x > 0`, else `slope * x`: one multiplication by a constant-per-element factor, so the gradient is
/// exactly that factor (candle-nn's max/min form splits the gradient at ties).
fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    let positive = x.gt(0.0)?.to_dtype(x.dtype())?;
    // factor = slope + (1 - slope) * [x > 0]
    let factor = positive.affine(1.0 - slope, slope)?;
    x.mul(&factor)
}

/// Softmax along `axis`, stable (the row maximum is subtracted first) and differentiable.
///
/// # Shapes
/// `x [..]` -> `[..]` (same shape); each slice along `axis` sums to 1.
pub fn softmax(x: &Tensor, axis: usize) -> Result<Tensor> {
    if let Some(dtype) = super::half_type(x) {
        // Mixed precision: exponentials and their sum in f32, as PyTorch's autocast does.
        return softmax(&x.to_dtype(DType::F32)?, axis)?.to_dtype(dtype);
    }
    // The shift does not change the result, so it needs no gradient; detaching it saves a backward branch.
    let shifted = x.broadcast_sub(&x.max_keepdim(axis)?.detach())?;
    let num = shifted.exp()?;
    num.broadcast_div(&num.sum_keepdim(axis)?)
}

/// Log-softmax along `axis`: `x - max - log(sum(exp(x - max)))`, stable and differentiable.
///
/// # Shapes
/// `x [..]` -> `[..]` (same shape).
pub fn log_softmax(x: &Tensor, axis: usize) -> Result<Tensor> {
    if let Some(dtype) = super::half_type(x) {
        return log_softmax(&x.to_dtype(DType::F32)?, axis)?.to_dtype(dtype);
    }
    let shifted = x.broadcast_sub(&x.max_keepdim(axis)?.detach())?;
    let log_sum = shifted.exp()?.sum_keepdim(axis)?.log()?;
    shifted.broadcast_sub(&log_sum)
}

/// Inverted dropout for training: zeroes each element with probability `p` and scales the rest by `1/(1-p)`.
/// The caller skips it at evaluation. The mask comes from one seed drawn from `rng` (`dropout_mask.rs`), so a
/// seeded run is reproducible and a seed gives the same mask on every device.
///
/// # Shapes
/// `x [..]` -> `[..]` (same shape).
pub fn dropout(x: &Tensor, p: f64, rng: &mut SeededRng) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        candle_core::bail!("dropout probability must be in [0, 1], got {p}");
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        // 1/(1-p) would be infinite and 0 * inf is NaN; every element is dropped.
        return x.zeros_like();
    }
    let mask = super::dropout_mask::mask_for(x, p, rng)?;
    x.mul(&mask)
}
