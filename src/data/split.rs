//! Train/valid/test splits: seeded and stratified by a label field, seeded at random, or given by the files.
//! Sizes are rounded per class (stratified) or overall (random) with the remainder going to the test split,
//! so 200 examples per class split 0.6/0.2/0.2 give exactly 120/40/40 of every class.

use std::collections::BTreeMap;

use super::fields::Loaded;
use crate::ir::{DataSpec, SplitSpec};
use crate::rng::SeededRng;

/// Example indices per split, each ascending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splits {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits the loaded examples as the spec says. The spec has passed `check_spec` (a known integer `by`
/// field, valid fractions); should it not have, the split is empty.
pub fn split(spec: &DataSpec, loaded: &BTreeMap<String, Loaded>) -> Splits {
    let n = loaded.values().next().map(|l| l.n).unwrap_or(0);
    match &spec.split {
        SplitSpec::Files {
            valid,
            stratify,
            seed,
        } => {
            let mut s = by_files(loaded);
            if let Some(fraction) = valid {
                let by = stratify.clone().or_else(|| default_label(spec, loaded));
                let labels = by.and_then(|b| label_values(&b, loaded));
                carve_valid(&mut s, *fraction, labels.as_deref(), *seed);
            }
            s
        }
        // Read from its file by `data::split_column`; dealt into folds by `data::split_kfold`.
        SplitSpec::Column { .. } | SplitSpec::KFold { .. } => Splits::default(),
        SplitSpec::Random {
            train,
            valid,
            test,
            seed,
        } => {
            let mut idx: Vec<usize> = (0..n).collect();
            SeededRng::new(*seed).shuffle(&mut idx);
            let mut s = Splits::default();
            cut(&idx, [*train, *valid, *test], &mut s);
            s.sort();
            s
        }
        SplitSpec::Stratified {
            by,
            train,
            valid,
            test,
            seed,
        } => {
            let Some(labels) = label_values(by, loaded) else {
                return Splits::default();
            };
            let mut classes: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
            for (i, c) in labels.into_iter().enumerate() {
                classes.entry(c).or_default().push(i);
            }
            // One generator for all classes, drawn from in class order: the split depends only on the seed.
            let mut rng = SeededRng::new(*seed);
            let mut s = Splits::default();
            for idx in classes.values_mut() {
                rng.shuffle(idx);
                cut(idx, [*train, *valid, *test], &mut s);
            }
            s.sort();
            s
        }
    }
}

impl Splits {
    fn sort(&mut self) {
        self.train.sort_unstable();
        self.valid.sort_unstable();
        self.test.sort_unstable();
    }
}

/// Appends `round(n * train)` indices to train, `round(n * valid)` to valid and the rest (or
/// `round(n * test)` of it when the fractions sum to less than 1) to test.
fn cut(idx: &[usize], [train, valid, test]: [f64; 3], s: &mut Splits) {
    let n = idx.len();
    let round = |f: f64| ((n as f64 * f).round() as usize).min(n);
    let n_train = round(train);
    let n_valid = round(valid).min(n - n_train);
    let rest = n - n_train - n_valid;
    let n_test = if train + valid + test >= 1.0 - 1e-9 {
        rest
    } else {
        round(test).min(rest)
    };
    s.train.extend(&idx[..n_train]);
    s.valid.extend(&idx[n_train..n_train + n_valid]);
    s.test
        .extend(&idx[n_train + n_valid..n_train + n_valid + n_test]);
}

/// Moves `round(n * fraction)` training examples to the validation split, per class when `labels` are given
/// (classes in label order, one generator drawn from in that order, as [`split`] does).
pub(super) fn carve_valid(s: &mut Splits, fraction: f64, labels: Option<&[i64]>, seed: u64) {
    let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in &s.train {
        let class = labels.and_then(|l| l.get(i).copied()).unwrap_or(0);
        groups.entry(class).or_default().push(i);
    }
    let mut rng = SeededRng::new(seed);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for idx in groups.values_mut() {
        rng.shuffle(idx);
        let n_valid = ((idx.len() as f64 * fraction).round() as usize).min(idx.len());
        valid.extend(&idx[..n_valid]);
        train.extend(&idx[n_valid..]);
    }
    s.train = train;
    s.valid = valid;
    s.sort();
}

/// What the data report says about a validation split carved from the training files.
pub(super) fn carve_note(spec: &DataSpec, loaded: &BTreeMap<String, Loaded>) -> Option<String> {
    let SplitSpec::Files {
        valid: Some(fraction),
        stratify,
        seed,
    } = &spec.split
    else {
        return None;
    };
    let by = stratify.clone().or_else(|| default_label(spec, loaded));
    let how = match by {
        Some(b) => format!("stratified by {b}"),
        None => "not stratified".to_string(),
    };
    Some(format!(
        "valid carved from the training files: {fraction} of each, {how}, seed {seed}"
    ))
}

/// The label a carved validation split is stratified by when `files()` names none: the data set's one scalar
/// integer field with classes (declared, or class names read from the data).
pub(super) fn default_label(spec: &DataSpec, loaded: &BTreeMap<String, Loaded>) -> Option<String> {
    let labels: Vec<&str> = spec
        .fields
        .iter()
        .filter(|f| {
            let named = loaded.get(&f.name).is_some_and(|l| l.class_names.is_some());
            (f.classes.is_some() || named) && label_values(&f.name, loaded).is_some()
        })
        .map(|f| f.name.as_str())
        .collect();
    match labels[..] {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// Whether split fractions are usable: each in [0, 1], summing to at most 1, with a non-empty train split.
pub fn fractions_ok([train, valid, test]: [f64; 3]) -> bool {
    let each_ok = [train, valid, test].iter().all(|v| (0.0..=1.0).contains(v));
    each_ok && train + valid + test <= 1.0 + 1e-9 && train > 0.0
}

/// The integer values of the stratification field, one per example.
pub(super) fn label_values(by: &str, loaded: &BTreeMap<String, Loaded>) -> Option<Vec<i64>> {
    let l = loaded.get(by)?;
    let scalar = l.example_shape.iter().product::<usize>() == 1;
    (!l.dtype.is_float() && scalar).then(|| l.values.iter().map(|v| *v as i64).collect())
}

fn by_files(loaded: &BTreeMap<String, Loaded>) -> Splits {
    let counts = loaded
        .values()
        .next()
        .and_then(|l| l.per_split)
        .unwrap_or([0; 3]);
    let (a, b) = (counts[0], counts[0] + counts[1]);
    Splits {
        train: (0..a).collect(),
        valid: (a..b).collect(),
        test: (b..b + counts[2]).collect(),
    }
}
