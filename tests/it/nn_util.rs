//! Helpers for the numeric kernel tests: load a fixture (safetensors + JSON), compare tensors with the JSON's
//! per-role tolerances and a message naming the worst element, track that every stored result was compared, and
//! check gradients against central finite differences. Fixtures load onto the test device (`crate::device`),
//! whose slack widens every tolerance.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use crate::device::{repo_path, test_device, tolerance};

/// One fixture case: its tensors, its JSON description, and the names compared so far.
pub struct Fixture {
    pub name: String,
    tensors: HashMap<String, Tensor>,
    meta: serde_json::Value,
    checked: RefCell<BTreeSet<String>>,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let dir = repo_path("tests/fixtures");
        let tensors =
            candle_core::safetensors::load(dir.join(format!("{name}.safetensors")), &test_device())
                .unwrap_or_else(|e| panic!("loading fixture {name}: {e}"));
        let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let meta = serde_json::from_str(&json).unwrap();
        Fixture {
            name: name.to_string(),
            tensors,
            meta,
            checked: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn get(&self, name: &str) -> Tensor {
        match self.tensors.get(name) {
            Some(t) => t.clone(),
            None => panic!("fixture {} has no tensor `{name}`", self.name),
        }
    }

    pub fn role(&self, name: &str) -> String {
        let role = &self.meta["tensors"][name]["role"];
        role.as_str()
            .unwrap_or_else(|| panic!("fixture {}: `{name}` has no role", self.name))
            .to_string()
    }

    /// `(atol, rtol)` for a role (`output`, `grad`, `state`), widened for the test device; `state` falls back
    /// to `output` when absent.
    pub fn tol(&self, role: &str) -> (f64, f64) {
        let tol = &self.meta["tolerance"];
        let entry = if tol[role].is_object() {
            &tol[role]
        } else {
            &tol["output"]
        };
        tolerance(
            entry["atol"].as_f64().unwrap(),
            entry["rtol"].as_f64().unwrap(),
        )
    }

    /// Every f32 tensor with role `input` or `param` (and `state_in`) as a trainable variable.
    pub fn vars(&self) -> HashMap<String, Var> {
        self.tensors
            .iter()
            .filter(|(n, t)| {
                t.dtype() == DType::F32
                    && matches!(self.role(n).as_str(), "input" | "param" | "state_in")
            })
            .map(|(n, t)| (n.clone(), Var::from_tensor(t).unwrap()))
            .collect()
    }

    /// Names starting with `prefix`, sorted.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Compares `actual` with the stored tensor `name`, using the tolerance of its role.
    pub fn check(&self, name: &str, actual: &Tensor) {
        let role = self.role(name);
        let (atol, rtol) = self.tol(&role);
        let what = format!("{}: {name}", self.name);
        assert_close(&what, actual, &self.get(name), atol, rtol);
        self.checked.borrow_mut().insert(name.to_string());
    }

    /// Compares every gradient stored under `prefix` (`grad_cross.` ...) with the gradient that `grads` holds
    /// for the variable of the same name (after `rename`, for fixtures whose names differ from the op's).
    pub fn check_grads(&self, prefix: &str, grads: &GradStore, vars: &HashMap<String, Var>) {
        let names = self.names_with_prefix(prefix);
        assert!(
            !names.is_empty(),
            "fixture {} has no gradients under `{prefix}`",
            self.name
        );
        for name in names {
            let target = &name[prefix.len()..];
            let var = vars
                .get(target)
                .unwrap_or_else(|| panic!("no variable `{target}` for `{name}`"));
            let grad = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{}: no gradient reached `{target}`", self.name));
            self.check(&name, grad);
        }
    }

    /// Fails unless every stored result (roles `output`, `grad`, `state`) has been compared.
    pub fn assert_all_checked(&self) {
        let checked = self.checked.borrow();
        let missing: Vec<&String> = self
            .tensors
            .keys()
            .filter(|n| matches!(self.role(n).as_str(), "output" | "grad" | "state"))
            .filter(|n| !checked.contains(*n))
            .collect();
        assert!(
            missing.is_empty(),
            "fixture {}: results never compared: {missing:?}",
            self.name
        );
    }
}

/// numpy `allclose` elementwise (`|a - e| <= atol + rtol * |e|`), panicking with the worst element.
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor, atol: f64, rtol: f64) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let a = flat_f64(actual);
    let e = flat_f64(expected);
    let mut worst: Option<(usize, f64)> = None;
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let excess = if x.is_finite() {
            (x - y).abs() - (atol + rtol * y.abs())
        } else {
            f64::INFINITY
        };
        if excess > 0.0 && worst.is_none_or(|(_, w)| excess > w) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        let index = unravel(i, expected.dims());
        panic!(
            "{what}: element {index:?} is {} but expected {} (|diff| {:.3e} > atol {atol:e} + rtol {rtol:e} * |expected|)",
            a[i],
            e[i],
            (a[i] - e[i]).abs()
        );
    }
}

pub fn flat_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut index = vec![0; dims.len()];
    for (slot, d) in index.iter_mut().zip(dims).rev() {
        *slot = i % d;
        i /= d;
    }
    index
}

/// Checks the gradients of `f(inputs)` (summed against a fixed pseudo-random upstream) with respect to every
/// input against central finite differences. Inputs should be f64 and small.
pub fn check_finite_differences(
    what: &str,
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> candle_core::Result<Tensor>,
) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&tensors).unwrap();
    let upstream = pseudo_random(out.dims(), 99);
    let scalar = |ts: &[Tensor]| -> f64 {
        let y = f(ts).unwrap();
        y.mul(&upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let grads = out
        .mul(&upstream)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let eps = 1e-6;
    for (k, var) in vars.iter().enumerate() {
        let analytic = grads
            .get(var.as_tensor())
            .map(flat_f64)
            .unwrap_or_else(|| vec![0.0; var.elem_count()]);
        let base = flat_f64(var.as_tensor());
        for i in 0..base.len() {
            let shifted = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let mut ts: Vec<Tensor> = inputs.to_vec();
                ts[k] = Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap();
                scalar(&ts)
            };
            let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            let err = (numeric - analytic[i]).abs();
            assert!(
                err <= 1e-6 + 1e-5 * numeric.abs(),
                "{what}: d/d input {k}[{i}]: analytic {} vs numeric {numeric}",
                analytic[i]
            );
        }
    }
}

/// A deterministic f64 tensor with values in [-1, 1) (an LCG; no dependence on candle's unseeded RNG).
pub fn pseudo_random(dims: &[usize], seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
}
