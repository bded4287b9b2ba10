//! The report of a k-fold run (`split = kfold(...)`): each fold's test metrics, read back from the fold's own
//! `report.json`, and their mean ± sample standard deviation over the folds. Written to the k-fold directory as
//! `report.json` (its `test` / `valid` objects hold the means, as a run's report holds its values, so tools that
//! read one metric per run read the mean) and `report.txt` (the printed table).

use std::fmt;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{write_atomic, RunError};

/// One fold's run, as its `report.json` says.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldOutcome {
    /// 1-based.
    pub fold: usize,
    pub run_dir: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub valid: Vec<(String, f64)>,
    pub test: Vec<(String, f64)>,
}

/// Every fold of a k-fold run.
#[derive(Clone, Debug, PartialEq)]
pub struct KFoldReport {
    pub model: String,
    pub selection: String,
    pub folds: Vec<FoldOutcome>,
    pub run_dir: String,
}

/// Mean and sample standard deviation (n − 1; 0 for one value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

impl FoldOutcome {
    /// Reads fold `fold`'s `report.json` in `dir`.
    pub fn read(dir: &Path, fold: usize) -> Result<FoldOutcome, RunError> {
        let path = dir.join("report.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| RunError::Io(format!("{}: {e}", path.display())))?;
        let metrics = |key: &str| -> Vec<(String, f64)> {
            v[key]
                .as_object()
                .map(|m| {
                    let value = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
                    m.iter().map(|(k, x)| (k.clone(), value(x))).collect()
                })
                .unwrap_or_default()
        };
        let count = |key: &str| v[key].as_u64().unwrap_or(0) as usize;
        Ok(FoldOutcome {
            fold,
            run_dir: dir.display().to_string(),
            epochs_run: count("epochs_run"),
            best_epoch: count("best_epoch"),
            valid: metrics("valid"),
            test: metrics("test"),
        })
    }
}

impl KFoldReport {
    /// Per test metric (in the first fold's order): the values of every fold, their mean and sample std.
    pub fn test_summary(&self) -> Vec<(String, Vec<f64>, f64, f64)> {
        summary(&self.folds, |f| &f.test)
    }

    /// The mean of a test metric over the folds.
    pub fn test_mean(&self, name: &str) -> Option<f64> {
        let rows = self.test_summary();
        rows.into_iter()
            .find(|(k, ..)| k == name)
            .map(|(_, _, m, _)| m)
    }

    pub fn to_json(&self) -> Value {
        let object = |rows: &[(String, Vec<f64>, f64, f64)], std: bool| {
            let pick = |r: &(String, Vec<f64>, f64, f64)| if std { r.3 } else { r.2 };
            Value::Object(
                rows.iter()
                    .map(|r| (r.0.clone(), number(pick(r))))
                    .collect::<Map<_, _>>(),
            )
        };
        let (test, valid) = (self.test_summary(), summary(&self.folds, |f| &f.valid));
        let folds: Vec<Value> = self
            .folds
            .iter()
            .map(|f| {
                json!({
                    "fold": f.fold, "run_dir": f.run_dir, "epochs_run": f.epochs_run,
                    "best_epoch": f.best_epoch, "valid": metrics(&f.valid), "test": metrics(&f.test),
                })
            })
            .collect();
        json!({
            "model": self.model, "k": self.folds.len(), "selection": self.selection,
            "std": "sample standard deviation over the folds (n - 1)",
            "test": object(&test, false), "test_std": object(&test, true),
            "valid": object(&valid, false), "valid_std": object(&valid, true),
            "folds": folds, "run_dir": self.run_dir,
        })
    }

    /// Writes `report.json` and `report.txt` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), RunError> {
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| RunError::Io(e.to_string()))?;
        write_atomic(&dir.join("report.json"), text.as_bytes())?;
        write_atomic(&dir.join("report.txt"), self.to_string().as_bytes())
    }
}

fn summary(
    folds: &[FoldOutcome],
    of: impl Fn(&FoldOutcome) -> &Vec<(String, f64)>,
) -> Vec<(String, Vec<f64>, f64, f64)> {
    let Some(first) = folds.first() else {
        return Vec::new();
    };
    of(first)
        .iter()
        .map(|(name, _)| {
            let values: Vec<f64> = folds
                .iter()
                .map(|f| {
                    let found = of(f).iter().find(|(k, _)| k == name);
                    found.map_or(f64::NAN, |(_, v)| *v)
                })
                .collect();
            let (mean, std) = mean_std(&values);
            (name.clone(), values, mean, std)
        })
        .collect()
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn metrics(values: &[(String, f64)]) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), number(*v)))
            .collect(),
    )
}

impl fmt::Display for KFoldReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.folds.len();
        writeln!(
            f,
            "k-fold cross-validation of model {}: {k} folds, each the test split of its own run (selected on valid {})",
            self.model, self.selection
        )?;
        let heads: Vec<String> = self
            .folds
            .iter()
            .map(|fo| format!("{:>10}", format!("fold {}", fo.fold)))
            .collect();
        writeln!(
            f,
            "{:<24}{} {:>10} {:>10}",
            "test metric",
            heads.join(""),
            "mean",
            "std"
        )?;
        for (name, values, mean, std) in self.test_summary() {
            let cells: Vec<String> = values.iter().map(|v| format!("{v:>10.4}")).collect();
            writeln!(f, "{name:<24}{} {mean:>10.4} {std:>10.4}", cells.join(""))?;
        }
        let epochs: Vec<String> = self
            .folds
            .iter()
            .map(|fo| format!("{:>10}", format!("{}/{}", fo.best_epoch, fo.epochs_run)))
            .collect();
        writeln!(f, "{:<24}{}", "best epoch / epochs", epochs.join(""))?;
        writeln!(
            f,
            "std: the sample standard deviation over the {k} folds (n − 1)"
        )
    }
}
