//! Normalisation and tensor algebra gradients against finite differences (layer_norm, batch_norm in both modes,
//! broadcast matmul, outer, broadcast arithmetic) and initialiser statistics.

use candle_core::{DType, Device, Tensor, Var};
use fusec::ir::{BinaryOp, Init};
use fusec::nn;
use fusec::rng::SeededRng;

use crate::nn_util::{check_finite_differences, flat_f64, pseudo_random};

#[test]
fn layer_norm_gradients() {
    let inputs = [
        pseudo_random(&[2, 3, 5], 1),
        pseudo_random(&[5], 2),
        pseudo_random(&[5], 3),
    ];
    check_finite_differences("layer_norm", &inputs, |t| {
        nn::layer_norm(&t[0], &t[1], &t[2], 1e-5)
    });
}

#[test]
fn batch_norm_gradients_train_and_eval() {
    for dims in [vec![4, 3], vec![3, 3, 2]] {
        let inputs = [
            pseudo_random(&dims, 4),
            pseudo_random(&[3], 5),
            pseudo_random(&[3], 6),
        ];
        for train in [true, false] {
            check_finite_differences(
                &format!("batch_norm {dims:?} train={train}"),
                &inputs,
                |t| {
                    // Fresh running stats per call so finite differences see the same state.
                    let rm = Var::from_tensor(&pseudo_random(&[3], 7)).unwrap();
                    let rv = Var::from_tensor(
                        &pseudo_random(&[3], 8)
                            .abs()
                            .unwrap()
                            .affine(1.0, 0.5)
                            .unwrap(),
                    )
                    .unwrap();
                    nn::batch_norm(&t[0], &t[1], &t[2], &rm, &rv, train, 1e-5, 0.1)
                },
            );
        }
    }
}

#[test]
fn batch_norm_three_d_running_stats_pool_batch_and_length() {
    let x = pseudo_random(&[3, 2, 4], 9);
    let zeros = Tensor::zeros(2, DType::F64, &Device::Cpu).unwrap();
    let ones = zeros.ones_like().unwrap();
    let (rm, rv) = (
        Var::from_tensor(&zeros).unwrap(),
        Var::from_tensor(&ones).unwrap(),
    );
    nn::batch_norm(&x, &ones, &zeros, &rm, &rv, true, 1e-5, 0.5).unwrap();
    let values = flat_f64(&x);
    for c in 0..2 {
        let chan: Vec<f64> = (0..3)
            .flat_map(|b| (0..4).map(move |l| (b, l)))
            .map(|(b, l)| values[b * 8 + c * 4 + l])
            .collect();
        let mean = chan.iter().sum::<f64>() / 12.0;
        let unbiased = chan.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 11.0;
        assert!((flat_f64(&rm)[c] - 0.5 * mean).abs() < 1e-12);
        assert!((flat_f64(&rv)[c] - (0.5 + 0.5 * unbiased)).abs() < 1e-12);
    }
}

#[test]
fn tensor_algebra_gradients() {
    let (a, f) = (pseudo_random(&[3, 2], 10), pseudo_random(&[4, 2, 5], 11));
    check_finite_differences("matmul broadcast", &[a, f], |t| nn::matmul(&t[0], &t[1]));
    let (v, m) = (pseudo_random(&[3], 12), pseudo_random(&[2, 3, 4], 13));
    check_finite_differences("matmul vector", &[v, m], |t| nn::matmul(&t[0], &t[1]));
    let (a, b) = (pseudo_random(&[2, 3], 14), pseudo_random(&[2, 4], 15));
    check_finite_differences("outer", &[a, b], |t| nn::outer(&t[0], &t[1]));
    let (a, b) = (
        pseudo_random(&[2, 1, 3], 16),
        pseudo_random(&[4, 1], 17).affine(1.0, 3.0).unwrap(),
    );
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
        check_finite_differences(&format!("{op:?}"), &[a.clone(), b.clone()], |t| {
            nn::broadcast_binary(&t[0], &t[1], op)
        });
    }
}

fn stats(init: Init, shape: &[usize]) -> (f64, f64, f64) {
    let t = nn::init_tensor(init, shape, &mut SeededRng::new(42), &Device::Cpu).unwrap();
    assert_eq!(t.dims(), shape);
    assert_eq!(t.dtype(), DType::F32);
    let v = flat_f64(&t);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
    (mean, std, max)
}

#[test]
fn initialisers_follow_pytorch_formulas() {
    // U(±1/sqrt(fan_in)): bound 0.125 for fan_in 64, std = bound / sqrt(3).
    let (mean, std, max) = stats(Init::UniformFanIn { fan_in: 64 }, &[200, 64]);
    assert!(
        max <= 0.125
            && max > 0.12
            && mean.abs() < 0.005
            && (std - 0.125 / 3f64.sqrt()).abs() < 0.002
    );
    // Xavier uniform on [240, 80, 3]: fan_in 240, fan_out 720, bound sqrt(6/960).
    let (_, std, max) = stats(Init::XavierUniform, &[240, 80, 3]);
    let bound = (6.0f64 / (240.0 * 3.0 + 80.0 * 3.0)).sqrt();
    assert!(max <= bound && max > 0.99 * bound && (std - bound / 3f64.sqrt()).abs() < 0.01 * bound);
    // Xavier normal on [300, 100]: std sqrt(2/400).
    let (mean, std, _) = stats(Init::XavierNormal, &[300, 100]);
    assert!(mean.abs() < 0.002 && (std - (2.0f64 / 400.0).sqrt()).abs() < 0.002);
    let (_, std, _) = stats(Init::StdNormal, &[100, 100]);
    assert!((std - 1.0).abs() < 0.02);
    assert_eq!(stats(Init::Zeros, &[3, 2]), (0.0, 0.0, 0.0));
    assert_eq!(stats(Init::Ones, &[4]), (1.0, 0.0, 1.0));
    // Seeded: the same seed gives the same tensor.
    let a = nn::init_tensor(
        Init::XavierUniform,
        &[5, 5],
        &mut SeededRng::new(1),
        &Device::Cpu,
    )
    .unwrap();
    let b = nn::init_tensor(
        Init::XavierUniform,
        &[5, 5],
        &mut SeededRng::new(1),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(flat_f64(&a), flat_f64(&b));
}
