//! Train/valid/test splits: seeded and stratified by a label field, seeded at random, or given by the files.
//! Sizes are rounded per class (stratified) or overall (random) with the remainder going to the test split,
//! so 200 examples per class split 0.6/0.2/0.2 give exactly 120/40/40 of every class.

use std::collections::BTreeMap;

use super::fields::Loaded;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, SplitSpec};
use crate::rng::SeededRng;

/// Example indices per split, each ascending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splits {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits the loaded examples as the spec says; problems (an unknown `by` field, bad fractions) become
/// diagnostics and an empty split.
pub fn split(
    spec: &DataSpec,
    loaded: &BTreeMap<String, Loaded>,
    diags: &mut Diagnostics,
) -> Splits {
    let n = loaded.values().next().map(|l| l.n).unwrap_or(0);
    match &spec.split {
        SplitSpec::Files => by_files(loaded),
        SplitSpec::Random {
            train,
            valid,
            test,
            seed,
        } => {
            if !fractions_ok(spec, [*train, *valid, *test], diags) {
                return Splits::default();
            }
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
            if !fractions_ok(spec, [*train, *valid, *test], diags) {
                return Splits::default();
            }
            let Some(labels) = label_values(spec, by, loaded, diags) else {
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

fn fractions_ok(spec: &DataSpec, f: [f64; 3], diags: &mut Diagnostics) -> bool {
    let each_ok = f.iter().all(|v| (0.0..=1.0).contains(v));
    let sum: f64 = f.iter().sum();
    if each_ok && sum <= 1.0 + 1e-9 && f[0] > 0.0 {
        return true;
    }
    diags.push(
        Diagnostic::error(
            "fusec::data::split",
            format!("split fractions train {}, valid {}, test {} must lie in [0, 1], sum to at most 1, and train must be > 0", f[0], f[1], f[2]),
        )
        .label(spec.span, "in this data block"),
    );
    false
}

/// The integer values of the stratification field, one per example.
fn label_values(
    spec: &DataSpec,
    by: &str,
    loaded: &BTreeMap<String, Loaded>,
    diags: &mut Diagnostics,
) -> Option<Vec<i64>> {
    let Some(l) = loaded.get(by) else {
        let mut d = Diagnostic::error(
            "fusec::data::split",
            format!("`stratified` names `{by}`, which is not a field"),
        )
        .label(spec.span, "in this data block");
        if let Some(s) = crate::diag::did_you_mean(by, spec.fields.iter().map(|f| f.name.as_str()))
        {
            d = d.help(format!("did you mean `{s}`?"));
        }
        diags.push(d);
        return None;
    };
    if l.dtype.is_float() || l.example_shape.iter().product::<usize>() != 1 {
        diags.push(
            Diagnostic::error("fusec::data::split", format!("`stratified` needs a scalar integer label field, but `{by}` is {} with examples of shape {:?}", l.dtype, l.example_shape))
                .label(l.span, "declared here"),
        );
        return None;
    }
    Some(l.values.iter().map(|v| *v as i64).collect())
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
