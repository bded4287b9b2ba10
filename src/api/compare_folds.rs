//! `fusec compare` over k-fold files (`split = kfold(...)`): every model trains on the same k folds, so its
//! values pair fold by fold, and the decision rule (docs/COMPARING.md §2, k folds) looks at the per-fold
//! differences: A beats B only when the mean of the differences exceeds their sample standard deviation. The
//! unpaired rule would measure a difference against the spread between folds, which is mostly how hard each
//! fold is for every model; the paired one removes that and keeps what differs between the models.

use std::path::PathBuf;

use super::compare::{higher_is_better, mean_std, CompareRow, Verdict};
use super::Error;
use crate::diag::Diagnostic;

/// `Some(k)` when every file is a k-fold file with the same k, `None` when none is; a mix is an error.
pub(super) fn shared_k(
    files: &[PathBuf],
    overrides: &[(String, String)],
) -> Result<Option<usize>, Error> {
    let plans: Vec<Option<usize>> = files
        .iter()
        .map(|f| super::kfold_plan(f, overrides).map(|p| p.k))
        .collect();
    let first = plans.first().copied().flatten();
    if plans.iter().all(|p| *p == first) {
        return Ok(first);
    }
    let shown: Vec<String> = files
        .iter()
        .zip(&plans)
        .map(|(f, p)| match p {
            Some(k) => format!("{} ({k} folds)", f.display()),
            None => format!("{} (no folds)", f.display()),
        })
        .collect();
    Err(Error::user(
        Diagnostic::error(
            "fusec::data::kfold",
            format!(
                "compared models must be split the same way, but they are not: {}",
                shown.join(", ")
            ),
        )
        .help("give every file the same `split = kfold(k = ..., stratify = ..., seed = ...)`, so each model is tested on the same folds"),
    ))
}

/// The test examples of each fold, as the first model's data gave them: every other model must get the same.
#[derive(Default)]
pub(super) struct FoldTests {
    first: Vec<(usize, String, Vec<usize>)>,
}

impl FoldTests {
    pub(super) fn check(&mut self, fold: usize, method: &str, test: &[usize]) -> Result<(), Error> {
        match self.first.iter().find(|(f, ..)| *f == fold) {
            None => {
                self.first.push((fold, method.to_string(), test.to_vec()));
                Ok(())
            }
            Some((_, _, same)) if same == test => Ok(()),
            Some((_, other, _)) => Err(Error::user(
                Diagnostic::error(
                    "fusec::data::kfold",
                    format!("fold {fold} of `{method}` tests on other examples than fold {fold} of `{other}`"),
                )
                .help("a paired comparison needs the same folds: use the same data, `k`, `stratify` and `seed` in every file"),
            )),
        }
    }
}

/// The verdict for `a` against `b`, values paired by fold: the mean per-fold difference must exceed the sample
/// standard deviation of the differences.
pub fn decide_paired(a: &[f64], b: &[f64], higher_better: bool) -> Verdict {
    let diffs: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| if higher_better { x - y } else { y - x })
        .collect();
    let (mean, std) = mean_std(&diffs);
    if diffs.len() < 2 || !mean.is_finite() || !std.is_finite() || mean.abs() <= std {
        Verdict::NoDifference
    } else if mean > 0.0 {
        Verdict::Beats
    } else {
        Verdict::Loses
    }
}

/// The table of a k-fold comparison: each method's per-fold values and their mean ± std over the folds.
pub(super) fn markdown_table(rows: &[CompareRow], metric: &str, seeds: &[u64], k: usize) -> String {
    let folds: Vec<String> = (1..=k).map(|i| format!("fold {i}")).collect();
    let mut s = format!(
        "| method | params | FLOPs/example | s/epoch (mean) | {} | test {metric} (mean ± std over {k} folds) |\n\
         |---|---:|---:|---:|{}---:|\n",
        folds.join(" | "),
        "---:|".repeat(k)
    );
    for r in rows {
        let (m, sd) = mean_std(&r.values);
        let (e, _) = mean_std(&r.epoch_seconds);
        let cells: Vec<String> = r.values.iter().map(|v| format!("{v:.4}")).collect();
        s.push_str(&format!(
            "| {} | {} | {} | {e:.3} | {} | {m:.4} ± {sd:.4} |\n",
            r.method,
            r.params,
            r.flops,
            cells.join(" | ")
        ));
    }
    if seeds.len() > 1 {
        s.push_str(&format!(
            "\nEach fold's value is the mean over {} seeds.\n",
            seeds.len()
        ));
    }
    s
}

/// One line per pair of methods, in table order, applying [`decide_paired`].
pub(super) fn paired_decisions(rows: &[CompareRow], metric: &str, k: usize) -> String {
    let hb = higher_is_better(metric);
    let mut s = format!(
        "\nDecision rule (docs/COMPARING.md §2, k folds): every model is tested on the same {k} folds, so the values \
         pair by fold; A beats B only when the mean of the per-fold differences in test {metric} exceeds their \
         sample std (n − 1).\n\n"
    );
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let diffs: Vec<f64> = a.values.iter().zip(&b.values).map(|(x, y)| x - y).collect();
            let (m, sd) = mean_std(&diffs);
            let detail = format!(
                "({} − {} per fold: mean {m:+.4}, std {sd:.4})",
                a.method, b.method
            );
            let line = match decide_paired(&a.values, &b.values, hb) {
                Verdict::Beats => format!("- {} beats {} {detail}\n", a.method, b.method),
                Verdict::Loses => format!("- {} beats {} {detail}\n", b.method, a.method),
                Verdict::NoDifference => {
                    format!(
                        "- {} vs {}: no difference detected {detail}\n",
                        a.method, b.method
                    )
                }
            };
            s.push_str(&line);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_folds_compare_the_differences() {
        // Fold difficulty varies a lot (std ≈ 0.1 per model), but A is better on every fold by about 0.02:
        // the unpaired rule sees no difference, the paired one does.
        let a = [0.92, 0.72, 0.83, 0.61, 0.95];
        let b = [0.90, 0.70, 0.80, 0.60, 0.93];
        assert_eq!(
            super::super::compare::decide(&a, &b, true),
            Verdict::NoDifference
        );
        assert_eq!(decide_paired(&a, &b, true), Verdict::Beats);
        assert_eq!(decide_paired(&b, &a, true), Verdict::Loses);
        assert_eq!(decide_paired(&a, &b, false), Verdict::Loses);
        // Differences +0.05, -0.02, +0.08, -0.03, +0.07: their mean 0.03 is within their std 0.05.
        let c = [0.95, 0.68, 0.88, 0.57, 1.0];
        assert_eq!(decide_paired(&c, &b, true), Verdict::NoDifference);
        // Equal values, and a single fold, decide nothing.
        assert_eq!(decide_paired(&a, &a, true), Verdict::NoDifference);
        assert_eq!(decide_paired(&[0.9], &[0.1], true), Verdict::NoDifference);
    }
}
