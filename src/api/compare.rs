//! Training several model files with several seeds each ([`compare`]) into one table — method, parameters,
//! FLOPs per example, train time, and the test metric as mean ± std over seeds — rendered as Markdown and CSV.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::prepare::{prepare, Prepared};
use super::{Error, Reporter};
use crate::run::{train, RunOptions};

/// Which files, which seeds, which metric, where the runs go.
#[derive(Clone, Debug)]
pub struct CompareRequest {
    /// Model files, each with a `train { }` plan.
    pub files: Vec<PathBuf>,
    pub seeds: Vec<u64>,
    /// The test metric to compare (default: the first plan's selection metric).
    pub metric: Option<String>,
    /// Folder of the runs (`<method>-seed<N>`) and of the table files.
    pub out: PathBuf,
    /// Replace runs a previous comparison left in `out` (otherwise they are refused, not overwritten).
    pub overwrite: bool,
    pub device: Device,
    pub overrides: Vec<(String, String)>,
}

/// The table of a comparison.
pub struct Comparison {
    pub rows: Vec<CompareRow>,
    pub metric: String,
    pub seeds: Vec<u64>,
    /// `Some(k)` when the files are split by `kfold(k, ...)`: each row's values are its k folds' (paired).
    pub folds: Option<usize>,
}

impl Comparison {
    /// The Markdown table followed by one verdict line per pair of methods.
    pub fn markdown(&self) -> String {
        match self.folds {
            Some(k) => {
                let mut table =
                    super::compare_folds::markdown_table(&self.rows, &self.metric, &self.seeds, k);
                table.push_str(&super::compare_folds::paired_decisions(
                    &self.rows,
                    &self.metric,
                    k,
                ));
                table
            }
            None => {
                let mut table = markdown_table(&self.rows, &self.metric, &self.seeds);
                table.push_str(&decisions(&self.rows, &self.metric));
                table
            }
        }
    }

    /// Writes `compare.md` (the [`Comparison::markdown`] text) and `compare.csv` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        write_tables(
            dir,
            &self.rows,
            &self.metric,
            &self.markdown(),
            self.folds.is_some(),
        )
    }
}

/// One method's results over all seeds.
#[derive(Clone, Debug)]
pub struct CompareRow {
    pub method: String,
    pub params: usize,
    pub flops: i64,
    pub seconds: Vec<f64>,
    /// Training time per epoch of each seed (runs stop early at different epochs, so totals mislead).
    pub epoch_seconds: Vec<f64>,
    pub values: Vec<f64>,
}

/// Mean and sample standard deviation (n − 1), as the k-fold report computes them.
pub use crate::run::kfold_report::mean_std;

/// Trains every file with every seed (`--set seed=N`) into `req.out` and collects the test metric. Files split
/// by `kfold(...)` train every fold with every seed (`<method>-seed<N>-fold<i>`); each row then holds one value
/// per fold (the mean over seeds), the same folds for every model, so the decision rule pairs them.
pub fn compare(req: &CompareRequest, rep: &mut dyn Reporter) -> Result<Comparison, Error> {
    let folds = super::compare_folds::shared_k(&req.files, &req.overrides)?;
    let fold_list: Vec<Option<usize>> = match folds {
        Some(k) => (1..=k).map(Some).collect(),
        None => vec![None],
    };
    let mut fold_tests = super::compare_folds::FoldTests::default();
    let mut rows = Vec::new();
    let mut metric_name = req.metric.clone();
    for file in &req.files {
        let method = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut row = CompareRow {
            method: method.clone(),
            params: 0,
            flops: 0,
            seconds: Vec::new(),
            epoch_seconds: Vec::new(),
            values: Vec::new(),
        };
        // Per fold (one entry without folds): the value of each seed.
        let mut per_fold: Vec<Vec<f64>> = vec![Vec::new(); fold_list.len()];
        for seed in &req.seeds {
            for (f, fold) in fold_list.iter().enumerate() {
                let mut overrides = req.overrides.clone();
                overrides.push(("seed".into(), seed.to_string()));
                let mut name = format!("{method}-seed{seed}");
                if let Some(i) = fold {
                    overrides.push(("data.fold".into(), i.to_string()));
                    name.push_str(&format!("-fold{i}"));
                }
                let Prepared {
                    compiled,
                    model_index,
                    plan,
                    data,
                    config,
                } = prepare(file, &overrides, rep)?;
                if let Some(i) = fold {
                    fold_tests.check(*i, &method, &data.test)?;
                }
                let metric = metric_name
                    .get_or_insert_with(|| plan.select.metric.clone())
                    .clone();
                let (model, shapes) = (
                    &compiled.program.models[model_index],
                    &compiled.shapes[model_index],
                );
                row.flops = crate::summary::summarize(model, shapes, &Default::default()).flops;
                let opts = RunOptions {
                    run_dir: req.out.join(&name),
                    resume: false,
                    overwrite: req.overwrite,
                    device: req.device.clone(),
                    progress: false,
                    stop_after: None,
                    config,
                    sources: crate::run::run_dir::user_sources(&compiled.program.sources),
                };
                let what = fold.map_or(String::new(), |i| format!(", fold {i}"));
                rep.log(&format!("training {method} with seed {seed}{what} ..."));
                let outcome = train(model, shapes, &plan, &data, &opts, &mut |_| {})?;
                let Some(report) = outcome.report else {
                    continue;
                };
                row.params = report.params;
                row.seconds.push(report.train_seconds);
                row.epoch_seconds
                    .push(report.train_seconds / report.epochs_run.max(1) as f64);
                per_fold[f].push(report.test_metric(&metric).unwrap_or(f64::NAN));
            }
        }
        row.values = match folds {
            Some(_) => per_fold.iter().map(|v| mean_std(v).0).collect(),
            None => per_fold.concat(),
        };
        rows.push(row);
    }
    Ok(Comparison {
        rows,
        metric: metric_name.unwrap_or_else(|| "metric".into()),
        seeds: req.seeds.clone(),
        folds,
    })
}

pub fn markdown_table(rows: &[CompareRow], metric: &str, seeds: &[u64]) -> String {
    let mut s = format!(
        "| method | params | FLOPs/example | train s (mean) | s/epoch (mean) | test {metric} (mean ± std, {} seeds) |\n|---|---:|---:|---:|---:|---:|\n",
        seeds.len()
    );
    for r in rows {
        let (m, sd) = mean_std(&r.values);
        let (t, _) = mean_std(&r.seconds);
        let (e, _) = mean_std(&r.epoch_seconds);
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.3} | {:.4} ± {:.4} |\n",
            r.method, r.params, r.flops, t, e, m, sd
        ));
    }
    s
}

fn write_tables(
    dir: &Path,
    rows: &[CompareRow],
    metric: &str,
    md: &str,
    folds: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let per = if folds { "per_fold" } else { "per_seed" };
    let mut csv = format!("method,params,flops,train_seconds_mean,epoch_seconds_mean,{metric}_mean,{metric}_std,{metric}_{per}\n");
    for r in rows {
        let (m, sd) = mean_std(&r.values);
        let (t, _) = mean_std(&r.seconds);
        let (e, _) = mean_std(&r.epoch_seconds);
        let per: Vec<String> = r.values.iter().map(|v| format!("{v}")).collect();
        csv.push_str(&format!(
            "{},{},{},{t},{e},{m},{sd},{}\n",
            r.method,
            r.params,
            r.flops,
            per.join(";")
        ));
    }
    std::fs::write(dir.join("compare.csv"), csv)?;
    std::fs::write(dir.join("compare.md"), md)
}

/// Whether a larger value of `metric` is better (losses and errors are minimized).
pub fn higher_is_better(metric: &str) -> bool {
    !(metric == "loss" || metric.ends_with("_loss") || metric == "mae")
}

/// The verdict of docs/COMPARING.md §2 for `a` against `b`: "A beats B" only when the difference of the means
/// exceeds the larger of the two standard deviations.
pub fn decide(a: &[f64], b: &[f64], higher_better: bool) -> Verdict {
    let ((ma, sa), (mb, sb)) = (mean_std(a), mean_std(b));
    let diff = if higher_better { ma - mb } else { mb - ma };
    if diff.abs() <= sa.max(sb) || !diff.is_finite() {
        Verdict::NoDifference
    } else if diff > 0.0 {
        Verdict::Beats
    } else {
        Verdict::Loses
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Beats,
    Loses,
    NoDifference,
}

/// One line per pair of methods, in table order, applying [`decide`].
pub fn decisions(rows: &[CompareRow], metric: &str) -> String {
    let hb = higher_is_better(metric);
    let mut s = format!("\nDecision rule (docs/COMPARING.md §2): A beats B only when the mean difference in test {metric} exceeds the larger std.\n\n");
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let line = match decide(&a.values, &b.values, hb) {
                Verdict::Beats => format!("- {} beats {}\n", a.method, b.method),
                Verdict::Loses => format!("- {} beats {}\n", b.method, a.method),
                Verdict::NoDifference => {
                    format!("- {} vs {}: no difference detected\n", a.method, b.method)
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
    fn a_difference_must_exceed_the_larger_std() {
        assert_eq!(
            decide(&[0.90, 0.92, 0.91], &[0.85, 0.86, 0.84], true),
            Verdict::Beats
        );
        assert_eq!(
            decide(&[0.90, 0.92, 0.91], &[0.85, 0.86, 0.84], false),
            Verdict::Loses
        );
        // Means 0.91 and 0.89, but one std is 0.05: no difference.
        assert_eq!(
            decide(&[0.86, 0.91, 0.96], &[0.89, 0.89, 0.89], true),
            Verdict::NoDifference
        );
        assert!(
            !higher_is_better("loss") && !higher_is_better("mae") && higher_is_better("accuracy")
        );
    }
}
