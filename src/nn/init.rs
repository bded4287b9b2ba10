//! Parameter initialisers with PyTorch's formulas, drawn from fusec's seeded generator so runs are reproducible.

use candle_core::{Device, Result, Tensor};

use crate::ir::Init;
use crate::rng::SeededRng;

/// Draws a fresh f32 tensor for an initialiser.
///
/// - `UniformFanIn { fan_in }`: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (bound 0 when `fan_in <= 0`, as PyTorch).
/// - `XavierUniform`: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); `XavierNormal`: N(0, 2 / (fan_in + fan_out)).
///   Fans follow `torch.nn.init._calculate_fan_in_and_fan_out`: `fan_in = shape[1] * receptive`,
///   `fan_out = shape[0] * receptive`, `receptive` the product of the dims after the second; a 1-D tensor uses
///   `fan_in = fan_out = shape[0]`.
/// - `StdNormal`: N(0, 1); `Zeros`; `Ones`.
///
/// # Shapes
/// -> `shape`.
pub fn init_tensor(
    init: Init,
    shape: &[usize],
    rng: &mut SeededRng,
    device: &Device,
) -> Result<Tensor> {
    match init {
        Init::UniformFanIn { fan_in } => {
            let bound = if fan_in > 0 {
                1.0 / (fan_in as f64).sqrt()
            } else {
                0.0
            };
            rng.uniform_tensor(shape, -bound, bound, device)
        }
        Init::XavierUniform => {
            let bound = (6.0 / fan_sum(shape)).sqrt();
            rng.uniform_tensor(shape, -bound, bound, device)
        }
        Init::XavierNormal => rng.normal_tensor(shape, (2.0 / fan_sum(shape)).sqrt(), device),
        Init::StdNormal => rng.normal_tensor(shape, 1.0, device),
        Init::Zeros => Tensor::zeros(shape, candle_core::DType::F32, device),
        Init::Ones => Tensor::ones(shape, candle_core::DType::F32, device),
    }
}

/// `(fan_in, fan_out)` as PyTorch computes them (see [`init_tensor`]).
pub(crate) fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [out, inp, rest @ ..] => {
            let receptive: usize = rest.iter().product();
            (inp * receptive, out * receptive)
        }
    }
}

/// `fan_in + fan_out`, at least 1 so an empty tensor never divides by zero.
fn fan_sum(shape: &[usize]) -> f64 {
    let (fan_in, fan_out) = fans(shape);
    (fan_in + fan_out).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&[5]), (5, 5));
        assert_eq!(fans(&[24, 8]), (8, 24));
        assert_eq!(fans(&[16, 3, 5, 5]), (75, 400));
    }
}
