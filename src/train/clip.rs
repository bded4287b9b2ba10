//! Gradient clipping by global norm (PyTorch's `clip_grad_norm_`) and the gradient checks a training loop runs
//! before it steps: non-finite gradients and parameters that no loss reaches.

use candle_core::{DType, Result, Tensor, Var};
use rayon::prelude::*;

use super::grads::Gradients;

/// Gradient elements below which the norm is summed on one thread (small models' steps take well under a
/// millisecond; handing their few tensors to the pool costs more than it saves).
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// Scales every gradient of `params` by `min(1, max_norm / (total + 1e-6))`, where `total` is the L2 norm of all
/// their elements together, and returns `total` (before clipping). Parameters without a gradient are ignored.
/// A non-finite total leaves the gradients as they are (PyTorch would turn them all into NaN); the caller
/// reports it through [`non_finite_grads`].
pub fn clip_grad_norm<G: Gradients + ?Sized>(
    grads: &mut G,
    params: &[(String, Var)],
    max_norm: f64,
) -> Result<f64> {
    let present: Vec<Tensor> = params
        .iter()
        .filter_map(|(name, var)| grads.grad(name, var).cloned())
        .collect();
    // Each tensor's sum on its own (in parallel on the `--threads` pool), added up in parameter order: the
    // same additions in the same order as one sequential loop, so the total does not depend on the threads.
    let elements: usize = present.iter().map(|g| g.elem_count()).sum();
    let sums: Vec<f64> = if elements >= PARALLEL_ELEMENTS {
        present
            .par_iter()
            .map(sum_of_squares)
            .collect::<Result<_>>()?
    } else {
        present.iter().map(sum_of_squares).collect::<Result<_>>()?
    };
    let total = sums.iter().fold(0.0, |acc, s| acc + s).sqrt();
    let coef = max_norm / (total + 1e-6);
    if total.is_finite() && coef < 1.0 {
        for (name, var) in params {
            if let Some(g) = grads.grad(name, var) {
                let clipped = g.affine(coef, 0.0)?;
                grads.set_grad(name, var, clipped);
            }
        }
    }
    Ok(total)
}

/// Names of the parameters whose gradient holds a NaN or an infinity.
pub fn non_finite_grads<G: Gradients + ?Sized>(
    grads: &G,
    params: &[(String, Var)],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, var) in params {
        if let Some(g) = grads.grad(name, var) {
            // In f64 the square of any finite f32 is finite, so the sum is finite iff every element is.
            if !sum_of_squares(g)?.is_finite() {
                out.push(name.clone());
            }
        }
    }
    Ok(out)
}

/// Names of the parameters with no gradient at all or an all-zero one: the gradient-flow check.
pub fn missing_or_zero_grads<G: Gradients + ?Sized>(
    grads: &G,
    params: &[(String, Var)],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, var) in params {
        let zero = match grads.grad(name, var) {
            None => true,
            Some(g) => {
                g.to_dtype(DType::F64)?
                    .abs()?
                    .sum_all()?
                    .to_scalar::<f64>()?
                    == 0.0
            }
        };
        if zero {
            out.push(name.clone());
        }
    }
    Ok(out)
}

fn sum_of_squares(g: &Tensor) -> Result<f64> {
    if let Some(s) = crate::nn::fused::dense::sum_of_squares(g) {
        return Ok(s);
    }
    g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()
}
