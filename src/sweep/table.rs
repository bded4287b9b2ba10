//! The results of a sweep: each trial's `report.json` read back ([`TrialResult`]), grouped by file and
//! configuration into one table (mean ± std over seeds of the validation and test metric), the best
//! configuration of each method by the validation metric, and `fusec compare`'s decision rule between those
//! best configurations. The Markdown and `sweep.csv` hold no timings, so the same trials give the same text
//! whichever executor ran them; timings are in `trials.csv`.

use std::path::Path;

use super::plan::Manifest;
use crate::api::{decisions, mean_std, CompareRow};

/// What one finished trial reported.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialResult {
    pub params: usize,
    pub epochs_run: usize,
    pub train_seconds: f64,
    pub valid: f64,
    pub test: f64,
}

/// Reads `report.json` of a trial's run directory; `None` while the trial has not finished.
pub fn read_result(run_dir: &Path, metric: &str) -> Option<TrialResult> {
    let text = std::fs::read_to_string(run_dir.join("report.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let number = |x: &serde_json::Value| x.as_f64().unwrap_or(f64::NAN);
    Some(TrialResult {
        params: v["params"].as_u64().unwrap_or(0) as usize,
        epochs_run: v["epochs_run"].as_u64().unwrap_or(0) as usize,
        train_seconds: number(&v["train_seconds"]),
        valid: number(&v["valid"][metric]),
        test: number(&v["test"][metric]),
    })
}

/// The metric the table compares, and its direction.
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub maximize: bool,
}

/// One configuration of one file over its seeds.
#[derive(Clone, Debug)]
pub struct ConfigRow {
    pub method: String,
    pub config: usize,
    pub overrides: String,
    pub params: usize,
    pub flops: i64,
    pub expected: usize,
    pub valid: Vec<f64>,
    pub test: Vec<f64>,
}

/// The table of a sweep.
pub struct SweepTable {
    pub metric: Metric,
    pub rows: Vec<ConfigRow>,
    pub n_seeds: usize,
}

impl SweepTable {
    /// Groups the trials' results (`results[i]` belongs to `manifest.trials[i]`); `flops[file][config]`.
    pub fn collect(
        manifest: &Manifest,
        results: &[Option<TrialResult>],
        flops: &[Vec<i64>],
        metric: Metric,
    ) -> SweepTable {
        let mut rows: Vec<ConfigRow> = Vec::new();
        for (trial, result) in manifest.trials.iter().zip(results) {
            let at = rows.iter().position(|r| {
                r.method == manifest.files[trial.file].method && r.config == trial.config
            });
            let row = match at {
                Some(i) => &mut rows[i],
                None => {
                    rows.push(ConfigRow {
                        method: manifest.files[trial.file].method.clone(),
                        config: trial.config,
                        overrides: manifest.config_label(trial.config),
                        params: 0,
                        flops: flops
                            .get(trial.file)
                            .and_then(|f| f.get(trial.config))
                            .copied()
                            .unwrap_or(0),
                        expected: 0,
                        valid: Vec::new(),
                        test: Vec::new(),
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            row.expected += 1;
            if let Some(r) = result {
                row.params = r.params;
                row.valid.push(r.valid);
                row.test.push(r.test);
            }
        }
        SweepTable {
            metric,
            rows,
            n_seeds: manifest.seeds.len(),
        }
    }

    /// The best configuration of each method by mean validation metric (ties: the first configuration).
    pub fn best(&self) -> Vec<&ConfigRow> {
        let mut best: Vec<&ConfigRow> = Vec::new();
        for row in self.rows.iter().filter(|r| !r.valid.is_empty()) {
            let score = |r: &ConfigRow| {
                let m = mean_std(&r.valid).0;
                if self.metric.maximize {
                    m
                } else {
                    -m
                }
            };
            match best.iter().position(|b| b.method == row.method) {
                None => best.push(row),
                Some(i) if score(row) > score(best[i]) => best[i] = row,
                Some(_) => {}
            }
        }
        best
    }

    pub fn markdown(&self) -> String {
        let m = &self.metric.name;
        let mut s = format!(
            "| method | configuration | params | FLOPs/example | seeds done | valid {m} (mean ± std) | test {m} (mean ± std) |\n\
             |---|---|---:|---:|---:|---:|---:|\n"
        );
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {}/{} | {} | {} |\n",
                r.method,
                r.overrides,
                r.params,
                r.flops,
                r.test.len(),
                r.expected,
                stat(&r.valid),
                stat(&r.test)
            ));
        }
        let direction = if self.metric.maximize {
            "highest"
        } else {
            "lowest"
        };
        s.push_str(&format!(
            "\nBest configuration per method ({direction} mean valid {m}), with its test result:\n\n\
             | method | configuration | valid {m} | test {m} (mean ± std) | test {m} per seed |\n|---|---|---:|---:|---|\n"
        ));
        let best = self.best();
        for r in &best {
            let per: Vec<String> = r.test.iter().map(|v| format!("{v:.4}")).collect();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.method,
                r.overrides,
                stat(&r.valid),
                stat(&r.test),
                per.join(", ")
            ));
        }
        let compared: Vec<CompareRow> = best
            .iter()
            .map(|r| CompareRow {
                method: r.method.clone(),
                params: r.params,
                flops: r.flops,
                seconds: Vec::new(),
                epoch_seconds: Vec::new(),
                values: r.test.clone(),
            })
            .collect();
        s.push_str(&decisions(&compared, m));
        s
    }

    pub fn csv(&self) -> String {
        let m = &self.metric.name;
        let mut s = format!(
            "method,config,configuration,params,flops,seeds_done,seeds,valid_{m}_mean,valid_{m}_std,test_{m}_mean,test_{m}_std,test_{m}_per_seed\n"
        );
        for r in &self.rows {
            let (vm, vs) = mean_std(&r.valid);
            let (tm, ts) = mean_std(&r.test);
            let per: Vec<String> = r.test.iter().map(|v| format!("{v}")).collect();
            s.push_str(&format!(
                "{},{},\"{}\",{},{},{},{},{vm},{vs},{tm},{ts},{}\n",
                r.method,
                r.config,
                r.overrides,
                r.params,
                r.flops,
                r.test.len(),
                r.expected,
                per.join(";")
            ));
        }
        s
    }
}

fn stat(xs: &[f64]) -> String {
    if xs.is_empty() {
        return "–".into();
    }
    let (m, sd) = mean_std(xs);
    format!("{m:.4} ± {sd:.4}")
}

/// `trials.csv`: one line per trial with its state, metric values, time and where its run and log are.
pub fn trials_csv(
    manifest: &Manifest,
    states: &[String],
    results: &[Option<TrialResult>],
    logs: &[String],
    metric: &str,
) -> String {
    let mut s = format!("trial,method,config,seed,state,valid_{metric},test_{metric},epochs_run,train_seconds,run_dir,log\n");
    for (i, t) in manifest.trials.iter().enumerate() {
        let (v, te, ep, secs) = match results.get(i).cloned().flatten() {
            Some(r) => (
                format!("{}", r.valid),
                format!("{}", r.test),
                r.epochs_run.to_string(),
                format!("{:.3}", r.train_seconds),
            ),
            None => Default::default(),
        };
        s.push_str(&format!(
            "{},{},{},{},{},{v},{te},{ep},{secs},trials/{},{}\n",
            t.id,
            manifest.files[t.file].method,
            t.config,
            t.seed,
            states.get(i).map(String::as_str).unwrap_or(""),
            t.id,
            logs.get(i).map(String::as_str).unwrap_or("")
        ));
    }
    s
}
