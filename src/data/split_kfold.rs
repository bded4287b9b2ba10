//! `split = kfold(k, stratify, seed, valid)`: the examples are dealt into k folds and one fold is the test split.
//! Each class's examples (all examples, when not stratified) are shuffled by one seeded generator, drawn from in
//! class order, and dealt round-robin, the deal going on from class to class, so every fold holds each class's
//! examples to within one and the folds' sizes differ by at most one. Fold i (1-based) is the test split, the
//! other folds are the training part, and `valid` of that part is carved as the validation split exactly as
//! `files(valid = ...)` carves one (per class, seeded).

use std::collections::BTreeMap;

use super::fields::Loaded;
use super::split::{carve_valid, default_label, label_values, Splits};
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, SplitSpec};
use crate::rng::SeededRng;

/// The folds of `n` examples: example indices, each fold ascending. `labels` (one per example) stratifies them.
pub fn folds(n: usize, labels: Option<&[i64]>, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut classes: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let class = labels.and_then(|l| l.get(i).copied()).unwrap_or(0);
        classes.entry(class).or_default().push(i);
    }
    let mut rng = SeededRng::new(seed);
    let k = k.max(1);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for idx in classes.values_mut() {
        rng.shuffle(idx);
        for &i in idx.iter() {
            folds[next % k].push(i);
            next += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// The splits of the spec's fold (fold 1 when none is set), or empty splits after pushing why there are none.
pub(super) fn split_kfold(
    spec: &DataSpec,
    loaded: &BTreeMap<String, Loaded>,
    diags: &mut Diagnostics,
) -> Splits {
    let SplitSpec::KFold {
        k,
        stratify,
        seed,
        valid,
        fold,
    } = &spec.split
    else {
        return Splits::default();
    };
    let n = loaded.values().next().map(|l| l.n).unwrap_or(0);
    let by = stratify.clone().or_else(|| default_label(spec, loaded));
    let labels = by.as_ref().and_then(|b| label_values(b, loaded));
    if let Some(d) = too_few(spec, *k, n, by.as_deref().zip(labels.as_deref()), loaded) {
        diags.push(d);
        return Splits::default();
    }
    let mut folds = folds(n, labels.as_deref(), *k, *seed);
    let test_fold = fold.unwrap_or(1).clamp(1, *k) - 1;
    let test = std::mem::take(&mut folds[test_fold]);
    let mut s = Splits {
        train: folds.concat(),
        valid: Vec::new(),
        test,
    };
    carve_valid(&mut s, *valid, labels.as_deref(), *seed);
    s
}

/// What the data report says about the folds.
pub(super) fn kfold_note(spec: &DataSpec, loaded: &BTreeMap<String, Loaded>) -> Option<String> {
    let SplitSpec::KFold {
        k,
        stratify,
        seed,
        valid,
        fold,
    } = &spec.split
    else {
        return None;
    };
    let how = match stratify.clone().or_else(|| default_label(spec, loaded)) {
        Some(b) => format!("stratified by {b}"),
        None => "not stratified".to_string(),
    };
    Some(format!(
        "fold {} of {k} ({how}, seed {seed}) is the test split; valid carved from the other folds: {valid} of each",
        fold.unwrap_or(1)
    ))
}

/// An error when some fold would get no example: fewer examples than folds, or, stratified, a class with fewer
/// examples than folds (the counts of every class are listed).
fn too_few(
    spec: &DataSpec,
    k: usize,
    n: usize,
    stratified: Option<(&str, &[i64])>,
    loaded: &BTreeMap<String, Loaded>,
) -> Option<Diagnostic> {
    let fail = |message: String, help: String| {
        Diagnostic::error("fusec::data::kfold", message)
            .label(spec.split_span, format!("{k} folds"))
            .help(help)
    };
    let Some((by, labels)) = stratified else {
        return (n < k).then(|| {
            fail(
                format!(
                    "{k} folds need at least {k} examples, but data `{}` holds {n}",
                    spec.name
                ),
                format!("use at most `k = {n}` folds"),
            )
        });
    };
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for c in labels {
        *counts.entry(*c).or_default() += 1;
    }
    let smallest = counts.values().copied().min().unwrap_or(0);
    if smallest >= k {
        return None;
    }
    let names = loaded.get(by).and_then(|l| l.class_names.as_ref());
    let name = |c: i64| {
        names
            .and_then(|ns| usize::try_from(c).ok().and_then(|i| ns.get(i)))
            .cloned()
            .unwrap_or_else(|| c.to_string())
    };
    let listed: Vec<String> = counts
        .iter()
        .map(|(c, m)| format!("{} {m}", name(*c)))
        .collect();
    let short: Vec<String> = counts
        .iter()
        .filter(|(_, m)| **m < k)
        .map(|(c, _)| format!("`{}`", name(*c)))
        .collect();
    Some(
        fail(
            format!(
                "{k} folds stratified by `{by}` need at least {k} examples of every class, but {} {} fewer \
                 (examples per class: {})",
                super::read::plural(short.len(), "class", "classes"),
                if short.len() == 1 { "has" } else { "have" },
                listed.join(", ")
            ),
            if smallest < 2 {
                format!(
                    "leave out the classes {} (a class of one example cannot be in two folds), or stratify by \
                     another field",
                    short.join(", ")
                )
            } else if short.len() < counts.len() {
                format!(
                    "use at most `k = {smallest}` folds, or leave out the classes {}",
                    short.join(", ")
                )
            } else {
                format!("use at most `k = {smallest}` folds")
            },
        ),
    )
}

#[cfg(test)]
#[path = "tests/split_kfold.rs"]
mod tests;
