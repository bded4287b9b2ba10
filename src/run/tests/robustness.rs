//! Unit tests of `src/run/robustness.rs` (kept in a file of their own so the module reads as its public surface).

use std::collections::BTreeMap;

use super::*;
use crate::data::{DataReport, FieldData};
use crate::ir::Dtype;

/// Four examples of two features: train = {0, 1}, test = {2, 3}.
fn dataset() -> Dataset {
    let x = FieldData {
        values: FieldValues::F32(vec![1.0, 10.0, 3.0, 30.0, 5.0, 50.0, 7.0, 70.0]),
        dtype: Dtype::F32,
        example_shape: vec![2],
        n: 4,
    };
    Dataset {
        fields: BTreeMap::from([("x".to_string(), x)]),
        train: vec![0, 1],
        valid: vec![],
        test: vec![2, 3],
        report: DataReport::default(),
        standardization: BTreeMap::new(),
        label_names: BTreeMap::new(),
        class_names: BTreeMap::new(),
        warnings: Default::default(),
        texts: BTreeMap::new(),
    }
}

#[test]
fn zero_and_mean_touch_only_the_evaluated_examples() {
    let d = dataset();
    let mut rng = SeededRng::new(0);
    let zero = perturb(&d, "x", Perturbation::Zero, &[2, 3], &mut rng).unwrap();
    assert_eq!(zero, [1.0, 10.0, 3.0, 30.0, 0.0, 0.0, 0.0, 0.0]);
    // Training means per feature: (1 + 3) / 2 and (10 + 30) / 2.
    let mean = perturb(&d, "x", Perturbation::Mean, &[2], &mut rng).unwrap();
    assert_eq!(mean, [1.0, 10.0, 3.0, 30.0, 2.0, 20.0, 7.0, 70.0]);
}

#[test]
fn noise_scales_with_the_training_deviation_and_is_seeded() {
    let d = dataset();
    let p = Perturbation::Noise { std: 0.5 };
    let a = perturb(&d, "x", p, &[2, 3], &mut SeededRng::new(7)).unwrap();
    let b = perturb(&d, "x", p, &[2, 3], &mut SeededRng::new(7)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[..4], [1.0, 10.0, 3.0, 30.0]);
    // Training deviations are 1 and 10: the second feature's noise is ten times the first's.
    let mut rng = SeededRng::new(7);
    let (e0, e1) = (rng.normal(), rng.normal());
    assert!((a[4] - (5.0 + 0.5 * e0) as f32).abs() < 1e-5);
    assert!((a[5] - (50.0 + 5.0 * e1) as f32).abs() < 1e-4);
}

#[test]
fn integer_fields_are_refused() {
    let mut d = dataset();
    if let Some(f) = d.fields.get_mut("x") {
        f.values = FieldValues::I64(vec![0; 8]);
    }
    let err = perturb(&d, "x", Perturbation::Zero, &[2], &mut SeededRng::new(0));
    assert!(matches!(err, Err(RunError::Config(_))));
    assert!(perturb(&d, "y", Perturbation::Zero, &[2], &mut SeededRng::new(0)).is_err());
}
