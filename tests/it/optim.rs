//! Optimizers and gradient clipping against the PyTorch reference in tests/fixtures/optim.*, on the test device
//! (`crate::device`).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use fusec::ir::OptimizerKind;
use fusec::train::{clip_grad_norm, missing_or_zero_grads, non_finite_grads, Optimizer};

use crate::device::{repo_path, test_device, tolerance};

struct Fixture {
    tensors: HashMap<String, Tensor>,
    json: serde_json::Value,
}

fn fixture() -> Fixture {
    let dir = repo_path("tests/fixtures");
    let tensors =
        candle_core::safetensors::load(dir.join("optim.safetensors"), &test_device()).unwrap();
    let text = std::fs::read_to_string(dir.join("optim.json")).unwrap();
    Fixture {
        tensors,
        json: serde_json::from_str(&text).unwrap(),
    }
}

impl Fixture {
    fn get(&self, name: &str) -> &Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
    }

    fn tol(&self, role: &str) -> (f64, f64) {
        let t = &self.json["tolerance"][role];
        tolerance(t["atol"].as_f64().unwrap(), t["rtol"].as_f64().unwrap())
    }

    fn params(&self) -> Vec<(String, Var)> {
        // Given out of order on purpose: the optimizer sorts by name.
        ["p2", "p1"]
            .iter()
            .map(|p| {
                (
                    p.to_string(),
                    Var::from_tensor(self.get(&format!("param.{p}"))).unwrap(),
                )
            })
            .collect()
    }

    fn grads(&self, params: &[(String, Var)], step: usize) -> GradStore {
        let mut grads = GradStore::default();
        for (name, var) in params {
            grads.insert(
                var.as_tensor(),
                self.get(&format!("g.step{step}.{name}")).clone(),
            );
        }
        grads
    }
}

fn assert_close(actual: &Tensor, expected: &Tensor, (atol, rtol): (f64, f64), what: &str) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let a: Vec<f32> = actual.flatten_all().unwrap().to_vec1().unwrap();
    let e: Vec<f32> = expected.flatten_all().unwrap().to_vec1().unwrap();
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let (x, y) = (*x as f64, *y as f64);
        assert!(
            (x - y).abs() <= atol + rtol * y.abs(),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn kinds() -> Vec<(&'static str, OptimizerKind)> {
    let (lr, beta1, beta2, eps) = (1e-3, 0.9, 0.999, 1e-8);
    vec![
        (
            "adam",
            OptimizerKind::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay: 0.0,
            },
        ),
        (
            "adamw",
            OptimizerKind::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay: 0.01,
            },
        ),
        (
            "sgd",
            OptimizerKind::Sgd {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.0,
            },
        ),
    ]
}

/// The fixture's state names (`adam.step2.exp_avg.p1`) for the optimizer's `{param}.{state}` names.
fn fixture_state_name(opt: &str, step: usize, our_name: &str) -> Option<String> {
    let (param, state) = our_name.split_once('.')?;
    (state != "step").then(|| format!("{opt}.step{step}.{state}.{param}"))
}

#[test]
fn three_steps_match_pytorch() {
    let fx = fixture();
    for (opt, kind) in kinds() {
        let mut o = Optimizer::new(&kind, fx.params()).unwrap();
        assert_eq!(o.params()[0].0, "p1");
        for step in 1..=3 {
            let grads = fx.grads(o.params(), step);
            o.step(&grads).unwrap();
            for (name, var) in o.params() {
                let want = fx.get(&format!("{opt}.step{step}.{name}"));
                assert_close(
                    var.as_tensor(),
                    want,
                    fx.tol("output"),
                    &format!("{opt} step {step} {name}"),
                );
            }
            let (steps, state) = o.state().unwrap();
            assert_eq!(steps, step as u64);
            let mut compared = 0;
            for (name, t) in &state {
                if let Some(key) = fixture_state_name(opt, step, name) {
                    if let Some(want) = fx.tensors.get(&key) {
                        assert_close(t, want, fx.tol("state"), &key);
                        compared += 1;
                    }
                }
            }
            let expected = match opt {
                "adam" => 4,
                "sgd" => 2,
                _ => 0,
            };
            assert_eq!(compared, expected, "{opt}: state tensors compared");
        }
    }
}

#[test]
fn resumed_state_continues_exactly() {
    let fx = fixture();
    for (opt, kind) in kinds() {
        let mut first = Optimizer::new(&kind, fx.params()).unwrap();
        for step in 1..=2 {
            let grads = fx.grads(first.params(), step);
            first.step(&grads).unwrap();
        }
        let (steps, state) = first.state().unwrap();
        let saved: HashMap<String, Tensor> = state.into_iter().collect();
        // A fresh optimizer over the parameters as they are after two steps.
        let params: Vec<(String, Var)> = first
            .params()
            .iter()
            .map(|(n, v)| {
                (
                    n.clone(),
                    Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap(),
                )
            })
            .collect();
        let mut resumed = Optimizer::new(&kind, params).unwrap();
        resumed.load_state(steps, &saved).unwrap();
        let grads = fx.grads(resumed.params(), 3);
        resumed.step(&grads).unwrap();
        for (name, var) in resumed.params() {
            let want = fx.get(&format!("{opt}.step3.{name}"));
            assert_close(
                var.as_tensor(),
                want,
                fx.tol("output"),
                &format!("resumed {opt} {name}"),
            );
        }
    }
}

#[test]
fn a_parameter_without_gradient_is_left_alone() {
    let fx = fixture();
    let (_, kind) = kinds().remove(0);
    let mut o = Optimizer::new(&kind, fx.params()).unwrap();
    let mut grads = fx.grads(o.params(), 1);
    let p2 = o.params()[1].1.clone();
    grads.remove(p2.as_tensor());
    o.step(&grads).unwrap();
    assert_close(
        p2.as_tensor(),
        fx.get("param.p2"),
        (0.0, 0.0),
        "p2 untouched",
    );
    let (_, state) = o.state().unwrap();
    assert!(
        state.iter().all(|(n, _)| n.starts_with("p1.")),
        "no state for p2"
    );
    // p2's first real step is its own step 1: it matches the fixture's step-1 result.
    let grads = fx.grads(o.params(), 1);
    o.step(&grads).unwrap();
    assert_close(
        p2.as_tensor(),
        fx.get("adam.step1.p2"),
        fx.tol("output"),
        "p2 first step",
    );
}

#[test]
fn load_state_rejects_a_wrong_shape() {
    let fx = fixture();
    let (_, kind) = kinds().remove(0);
    let mut o = Optimizer::new(&kind, fx.params()).unwrap();
    let mut saved = HashMap::new();
    saved.insert(
        "p1.step".to_string(),
        Tensor::new(1i64, &Device::Cpu).unwrap(),
    );
    saved.insert(
        "p1.exp_avg".to_string(),
        Tensor::zeros(5, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    saved.insert(
        "p1.exp_avg_sq".to_string(),
        Tensor::zeros(5, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let err = o.load_state(1, &saved).unwrap_err().to_string();
    assert!(err.contains("p1.exp_avg") && err.contains("shape"), "{err}");
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let bad = OptimizerKind::Adam {
        lr: -1.0,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    assert!(Optimizer::new(&bad, vec![]).is_err());
    let bad = OptimizerKind::AdamW {
        lr: 1e-3,
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    assert!(Optimizer::new(&bad, vec![]).is_err());
}

fn clip_case(prefix: &str) {
    let fx = fixture();
    let params = fx.params();
    let mut grads = GradStore::default();
    for (name, var) in &params {
        grads.insert(
            var.as_tensor(),
            fx.get(&format!("{prefix}.before.{name}")).clone(),
        );
    }
    let total = clip_grad_norm(&mut grads, &params, 1.0).unwrap();
    let want = fx.json["scalars"][format!("{prefix}.total_norm")]
        .as_f64()
        .unwrap();
    assert!(
        (total - want).abs() <= 1e-6 + 1e-5 * want,
        "{prefix}: total {total} vs {want}"
    );
    for (name, var) in &params {
        let after = grads.get(var.as_tensor()).unwrap();
        assert_close(
            after,
            fx.get(&format!("{prefix}.after.{name}")),
            fx.tol("output"),
            prefix,
        );
    }
}

#[test]
fn clip_matches_pytorch() {
    clip_case("clip");
}

#[test]
fn clip_small_leaves_gradients_unchanged() {
    clip_case("clip_small");
}

#[test]
fn gradient_checks_name_the_bad_parameters() {
    let dev = Device::Cpu;
    let params: Vec<(String, Var)> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                Var::zeros(3, candle_core::DType::F32, &dev).unwrap(),
            )
        })
        .collect();
    let mut grads = GradStore::default();
    grads.insert(
        params[0].1.as_tensor(),
        Tensor::new(&[1f32, f32::NAN, 0.0], &dev).unwrap(),
    );
    grads.insert(
        params[1].1.as_tensor(),
        Tensor::new(&[0f32, 0.0, 0.0], &dev).unwrap(),
    );
    grads.insert(
        params[2].1.as_tensor(),
        Tensor::new(&[0f32, f32::INFINITY, 2.0], &dev).unwrap(),
    );
    assert_eq!(non_finite_grads(&grads, &params).unwrap(), vec!["a", "c"]);
    assert_eq!(
        missing_or_zero_grads(&grads, &params).unwrap(),
        vec!["b", "d"]
    );
}

/// The in-place CPU Adam kernel and the generic tensor-op path (taken when the gradient is not contiguous)
/// must give bit-identical weights and moments, with and without weight decay, coupled and decoupled, across
/// a checkpoint round trip of the state.
#[test]
fn in_place_adam_equals_the_generic_path_bit_for_bit() {
    use fusec::backend::autodiff::ParamGrads;
    let dev = Device::Cpu;
    let start = crate::nn_util::pseudo_random(&[6, 5], 3)
        .to_dtype(candle_core::DType::F32)
        .unwrap();
    for kind in [
        OptimizerKind::Adam {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        OptimizerKind::Adam {
            lr: 3e-3,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 0.05,
        },
        OptimizerKind::AdamW {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        },
    ] {
        let a = Var::from_tensor(&start).unwrap();
        let b = Var::from_tensor(&start).unwrap();
        let mut fast = Optimizer::new(&kind, vec![("w".into(), a.clone())]).unwrap();
        let mut slow = Optimizer::new(&kind, vec![("w".into(), b.clone())]).unwrap();
        for step in 0..4 {
            let g = crate::nn_util::pseudo_random(&[6, 5], 10 + step)
                .to_dtype(candle_core::DType::F32)
                .unwrap();
            // The same values as a transposed view: not contiguous, so the generic path runs.
            let g_t = g.t().unwrap().contiguous().unwrap().t().unwrap();
            assert!(!g_t.is_contiguous());
            let mut ga = ParamGrads::default();
            ga.grads.insert("w".into(), g);
            let mut gb = ParamGrads::default();
            gb.grads.insert("w".into(), g_t);
            fast.step(&ga).unwrap();
            slow.step(&gb).unwrap();
            if step == 1 {
                // A checkpoint round trip moves the moments between the two representations.
                let (n, state) = fast.state().unwrap();
                fast.load_state(n, &state.into_iter().collect()).unwrap();
            }
        }
        let bits = |v: &Var| -> Vec<u32> {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect()
        };
        assert_eq!(bits(&a), bits(&b), "{kind:?}: weights differ");
        let (_, sa) = fast.state().unwrap();
        let (_, sb) = slow.state().unwrap();
        for ((na, ta), (nb, tb)) in sa.iter().zip(&sb) {
            assert_eq!(na, nb);
            let (ta, tb) = (
                ta.flatten_all().unwrap().to_vec1::<f32>().ok(),
                tb.flatten_all().unwrap().to_vec1::<f32>().ok(),
            );
            assert_eq!(ta, tb, "{kind:?}: state `{na}` differs");
        }
    }
    let _ = dev;
}
