//! Warnings about a split that loads but may mislead: a class left without examples in a split, and split sizes
//! far from the asked fractions (stratified splits round every class on its own, so a stratified 0.6/0.2/0.2
//! split of 8 examples per class gives 5/2/1 per class: 25/10/5 of 40 instead of 24/8/8).

use super::report::DataReport;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{DataSpec, SplitSpec};

const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// How many (class, split) pairs without examples a warning names before it only counts the rest (within the
/// twelve notes a rendered diagnostic shows).
const MAX_LISTED: usize = 10;

/// The warnings of a loaded data set's split.
pub(super) fn split_warnings(spec: &DataSpec, report: &DataReport) -> Diagnostics {
    let mut out = Diagnostics::default();
    let got = [report.n_train, report.n_valid, report.n_test];
    let asked = match &spec.split {
        SplitSpec::Stratified {
            train, valid, test, ..
        }
        | SplitSpec::Random {
            train, valid, test, ..
        } => Some((report.n_examples, [*train, *valid, *test], 3)),
        // A carved fraction is a fraction of the training files; the test split is not carved.
        SplitSpec::Files {
            valid: Some(valid), ..
        }
        | SplitSpec::KFold { valid, .. } => Some((
            report.n_train + report.n_valid,
            [1.0 - valid, *valid, 0.0],
            2,
        )),
        _ => None,
    };
    if let Some((n, fractions, parts)) = asked {
        if let Some(d) = rounding(spec, n, fractions, &got, parts) {
            out.push(d);
        }
    }
    for (field, counts) in &report.classes {
        let per_split = [&counts.train, &counts.valid, &counts.test];
        let name = |k: usize| match &counts.names {
            Some(names) => names.get(k).cloned().unwrap_or_else(|| k.to_string()),
            None => k.to_string(),
        };
        let mut empty = Vec::new();
        let mut more = 0usize;
        for (s, split) in SPLITS.iter().enumerate() {
            // A split with no examples at all (`valid = 0`) is not a class problem.
            if got[s] == 0 {
                continue;
            }
            for (k, c) in per_split[s].iter().enumerate() {
                if *c != 0 {
                    continue;
                }
                // `classes` may declare up to 2^20 classes: name the first few, count the rest, so the warning
                // stays readable and its size bounded.
                if empty.len() == MAX_LISTED {
                    more += 1;
                    continue;
                }
                let all = [
                    counts.train.get(k).copied().unwrap_or(0),
                    counts.valid.get(k).copied().unwrap_or(0),
                    counts.test.get(k).copied().unwrap_or(0),
                ];
                empty.push(format!(
                    "class `{}` has no {split} example (train {}, valid {}, test {})",
                    name(k),
                    all[0],
                    all[1],
                    all[2]
                ));
            }
        }
        if empty.is_empty() {
            continue;
        }
        if more > 0 {
            empty.push(format!(
                "… and {more} more {} of a class and a split without examples",
                if more == 1 { "pair" } else { "pairs" }
            ));
        }
        let mut d = Diagnostic::warning(
            "fusec::data::split_empty_class",
            format!(
                "the split of data `{}` leaves classes of `{field}` without examples",
                spec.name
            ),
        )
        .label(spec.split_span, "this split");
        d.notes = empty;
        out.push(d.help(
            "metrics of an empty class are undefined and a class never trained on is never learned; give the \
             class more examples, or split with other fractions",
        ));
    }
    out
}

/// A warning when a split size lies far from its fraction of `n`: more than one example off, and more than a
/// quarter of what was asked. Only the first `parts` sizes are compared (a carved split has no test part).
fn rounding(
    spec: &DataSpec,
    n: usize,
    fractions: [f64; 3],
    got: &[usize; 3],
    parts: usize,
) -> Option<Diagnostic> {
    let expected = fractions.map(|f| f * n as f64);
    let far = (0..parts).any(|s| {
        let off = (got[s] as f64 - expected[s]).abs();
        off > 1.0 && off > 0.25 * expected[s]
    });
    if !far {
        return None;
    }
    let how = match &spec.split {
        SplitSpec::Files { .. } | SplitSpec::KFold { .. } => "carving a validation split from",
        SplitSpec::Stratified { .. } => "the stratified split of",
        _ => "the split of",
    };
    let show = |v: Vec<String>| v[..parts].join(" / ");
    let message = format!(
        "{how} {n} examples gives {}, far from the asked {} ({})",
        show(
            SPLITS
                .iter()
                .zip(got)
                .map(|(s, g)| format!("{s} {g}"))
                .collect()
        ),
        show(fractions.iter().map(|f| format!("{f}")).collect()),
        show(expected.iter().map(|e| format!("{e:.1}")).collect()),
    );
    Some(
        Diagnostic::warning("fusec::data::split_rounding", message)
            .label(spec.split_span, "this split")
            .help(
                "a stratified split rounds every class on its own, so small classes round far from the fractions; \
                 choose fractions that fit the class sizes, or split at random",
            ),
    )
}
