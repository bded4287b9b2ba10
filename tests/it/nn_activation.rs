//! Fixture `linear_act`: linear layer, every activation (values, grid derivatives, gradients), plus softmax,
//! log-softmax and dropout properties.

use candle_core::{DType, Device, Tensor, Var};
use fusec::ir::Activation;
use fusec::nn;
use fusec::rng::SeededRng;

use crate::nn_util::{check_finite_differences, pseudo_random, Fixture};

const ACTS: [(&str, Activation); 7] = [
    ("linear", Activation::Identity),
    ("tanh", Activation::Tanh),
    ("relu", Activation::Relu),
    ("leaky_relu", Activation::LeakyRelu { slope: 0.2 }),
    ("sigmoid", Activation::Sigmoid),
    ("gelu", Activation::Gelu { tanh: false }),
    ("gelu_tanh", Activation::Gelu { tanh: true }),
];

#[test]
fn linear_act_outputs_and_gradients() {
    let fx = Fixture::load("linear_act");
    let upstream = fx.get("upstream");
    for (name, act) in ACTS {
        let vars = fx.vars();
        let y = nn::linear(
            &vars["x"],
            &vars["linear.weight"],
            Some(&vars["linear.bias"]),
        )
        .unwrap();
        let y = nn::activation(&y, act).unwrap();
        fx.check(name, &y);
        let grads = y
            .mul(&upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        fx.check_grads(&format!("grad_{name}."), &grads, &vars);
    }
    // The grid: values and elementwise derivatives (the gradient of sum(act(grid))).
    for (name, act) in ACTS.into_iter().skip(1) {
        let grid = Var::from_tensor(&fx.get("grid")).unwrap();
        let y = nn::activation(&grid, act).unwrap();
        fx.check(&format!("grid.{name}"), &y);
        let grads = y.sum_all().unwrap().backward().unwrap();
        fx.check(
            &format!("deriv.{name}"),
            grads.get(grid.as_tensor()).unwrap(),
        );
    }
    fx.assert_all_checked();
}

#[test]
fn softmax_and_log_softmax_match_definition_and_differentiate() {
    let x = pseudo_random(&[2, 3, 4], 1).affine(5.0, 0.0).unwrap();
    for axis in 0..3 {
        let s = nn::softmax(&x, axis).unwrap();
        let sums = crate::nn_util::flat_f64(&s.sum(axis).unwrap());
        assert!(
            sums.iter().all(|v| (v - 1.0).abs() < 1e-12),
            "axis {axis}: {sums:?}"
        );
        let ls = nn::log_softmax(&x, axis).unwrap();
        let diff = (ls.exp().unwrap() - &s)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-12);
        check_finite_differences("softmax", std::slice::from_ref(&x), |t| {
            nn::softmax(&t[0], axis)
        });
        check_finite_differences("log_softmax", std::slice::from_ref(&x), |t| {
            nn::log_softmax(&t[0], axis)
        });
    }
    // Huge logits stay finite.
    let big = Tensor::new(&[[1000f32, 0., -1000.]], &Device::Cpu).unwrap();
    let ls = crate::nn_util::flat_f64(&nn::log_softmax(&big, 1).unwrap());
    assert_eq!(ls[0], 0.0);
    assert!(ls.iter().all(|v| v.is_finite()));
}

#[test]
fn dropout_is_seeded_inverted_and_bounded() {
    let x = Tensor::ones((100, 100), DType::F32, &Device::Cpu).unwrap();
    let a = nn::dropout(&x, 0.25, &mut SeededRng::new(3)).unwrap();
    let b = nn::dropout(&x, 0.25, &mut SeededRng::new(3)).unwrap();
    let (va, vb) = (crate::nn_util::flat_f64(&a), crate::nn_util::flat_f64(&b));
    assert_eq!(va, vb, "same seed, same mask");
    let zeros = va.iter().filter(|v| **v == 0.0).count();
    assert!(
        (2200..2800).contains(&zeros),
        "{zeros} of 10000 dropped at p = 0.25"
    );
    assert!(va.iter().all(|v| *v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    let all = nn::dropout(&x, 1.0, &mut SeededRng::new(3)).unwrap();
    assert_eq!(all.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    assert!(nn::dropout(&x, 1.5, &mut SeededRng::new(3)).is_err());
}
