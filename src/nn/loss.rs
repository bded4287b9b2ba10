//! Mean-reduced losses with PyTorch's definitions, written to stay finite for extreme logits: cross-entropy via a
//! stable log-softmax, BCE-with-logits via `max(x,0) - x*y + log(1 + exp(-|x|))` (candle-nn's version overflows).

use candle_core::{DType, Result, Tensor};

use super::activation::log_softmax;

/// Cross-entropy of integer class labels, averaged over all rows.
///
/// Labels outside `0..C` are an error (they come from user data, so this is checked rather than trusted).
///
/// # Shapes
/// `logits [.., C]`, `labels i64 [..]` (the same leading shape, or the same element count) -> `[]`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let Some(&classes) = logits.dims().last() else {
        candle_core::bail!("cross_entropy: logits must have a class axis, got a scalar");
    };
    let rows = logits.elem_count() / classes.max(1);
    if labels.elem_count() != rows {
        candle_core::bail!(
            "cross_entropy: {rows} rows of logits {:?} but {} labels {:?}",
            logits.dims(),
            labels.elem_count(),
            labels.dims()
        );
    }
    let labels = labels.flatten_all()?.to_dtype(DType::I64)?;
    check_labels(&labels, classes)?;
    let log_probs = log_softmax(&logits.reshape((rows, classes))?, 1)?;
    // One-hot selection instead of `gather`: it works on every device and its backward pass is a plain product.
    let classes_row = Tensor::arange(0i64, classes as i64, logits.device())?.unsqueeze(0)?;
    let one_hot = labels
        .unsqueeze(1)?
        .broadcast_eq(&classes_row)?
        .to_dtype(logits.dtype())?;
    let picked = log_probs.mul(&one_hot)?.sum_all()?;
    picked.affine(-1.0 / rows as f64, 0.0)
}

fn check_labels(labels: &Tensor, classes: usize) -> Result<()> {
    if labels.elem_count() == 0 {
        return Ok(());
    }
    let lo = labels.min_all()?.to_scalar::<i64>()?;
    let hi = labels.max_all()?.to_scalar::<i64>()?;
    if lo < 0 || hi >= classes as i64 {
        candle_core::bail!(
            "cross_entropy: labels must be in 0..{classes}, found values in {lo}..={hi}"
        );
    }
    Ok(())
}

/// Binary cross-entropy on logits, averaged over all elements; targets may be soft (in [0, 1]).
///
/// Uses `max(x, 0) - x*y + log(1 + exp(-|x|))`, whose gradient is `(sigmoid(x) - y) / N` and which is finite
/// for any finite logit (the exponent is never positive).
///
/// # Shapes
/// `logits [..]`, `targets [..]` (same shape) -> `[]`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    bce_with_logits_elements(logits, targets)?.mean_all()
}

/// The unreduced BCE-with-logits terms, one per element.
///
/// # Shapes
/// `logits [..]`, `targets [..]` (same shape) -> `[..]`.
pub fn bce_with_logits_elements(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.dims() != targets.dims() {
        candle_core::bail!(
            "bce_with_logits: logits {:?} and targets {:?} differ in shape",
            logits.dims(),
            targets.dims()
        );
    }
    let softplus_tail = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (logits.relu()? - logits.mul(targets)?)? + softplus_tail
}

/// Mean squared error over all elements.
///
/// # Shapes
/// `a [..]`, `b [..]` (same shape) -> `[]`.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.sub(b)?.sqr()?.mean_all()
}

/// Mean absolute error over all elements.
///
/// # Shapes
/// `a [..]`, `b [..]` (same shape) -> `[]`.
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.sub(b)?.abs()?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn out_of_range_labels_are_an_error() -> Result<()> {
        let dev = Device::Cpu;
        let logits = Tensor::zeros((2, 3), DType::F32, &dev)?;
        assert!(cross_entropy(&logits, &Tensor::new(&[0i64, 3], &dev)?).is_err());
        assert!(cross_entropy(&logits, &Tensor::new(&[-1i64, 0], &dev)?).is_err());
        assert!(cross_entropy(&logits, &Tensor::new(&[0i64], &dev)?).is_err());
        // Uniform logits: loss ln 3 whatever the labels.
        let loss = cross_entropy(&logits, &Tensor::new(&[0i64, 2], &dev)?)?.to_scalar::<f32>()?;
        assert!((loss - 3f32.ln()).abs() < 1e-6);
        Ok(())
    }
}
