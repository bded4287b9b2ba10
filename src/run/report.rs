//! What a run records: one row per epoch (`metrics.jsonl`, `metrics.csv`) and the final `report.json`, plus
//! the readable table printed at the end.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{write_atomic, RunError};

/// One epoch: its number, learning rate(s), and every measured value in a stable order
/// (`train.loss.<step>`, `valid.loss`, `valid.<metric>`...).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub values: Vec<(String, f64)>,
}

impl EpochRow {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("epoch".into(), self.epoch.into());
        for (k, v) in &self.values {
            m.insert(k.clone(), json_number(*v));
        }
        serde_json::Value::Object(m)
    }
}

fn json_number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn metrics_object(values: &[(String, f64)]) -> serde_json::Value {
    serde_json::Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), json_number(*v)))
            .collect(),
    )
}

/// Rewrites `metrics.jsonl` and `metrics.csv` from the whole history (atomic; the history is small).
pub fn write_history(run_dir: &Path, history: &[EpochRow]) -> Result<(), RunError> {
    let mut jsonl = String::new();
    for row in history {
        jsonl.push_str(&row.to_json().to_string());
        jsonl.push('\n');
    }
    write_atomic(&run_dir.join("metrics.jsonl"), jsonl.as_bytes())?;
    let mut csv = String::from("epoch");
    let keys: Vec<String> = history
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    for k in &keys {
        csv.push(',');
        csv.push_str(k);
    }
    csv.push('\n');
    for row in history {
        csv.push_str(&row.epoch.to_string());
        for k in &keys {
            csv.push(',');
            if let Some(v) = row.get(k) {
                csv.push_str(&format!("{v}"));
            }
        }
        csv.push('\n');
    }
    write_atomic(&run_dir.join("metrics.csv"), csv.as_bytes())
}

/// The end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub model: String,
    pub seed: u64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub params: usize,
    pub train_seconds: f64,
    pub selection: String,
    pub valid: Vec<(String, f64)>,
    pub test: Vec<(String, f64)>,
    /// Test confusion matrix of a classification task (rows: true class, columns: predicted).
    pub confusion: Option<Vec<Vec<usize>>>,
    /// The first [`SHOWN_TRANSLATIONS`] (reference, translation) pairs of a translation task's test split
    /// (beam 5, detokenized; all of them are in `translations_test.txt`).
    pub test_translations: Vec<(String, String)>,
    /// A translation task's training speed: source and target tokens (padding excluded) of the training
    /// split times the epochs run, over the training seconds.
    pub train_tokens_per_second: Option<f64>,
    /// How many test sentences were translated.
    pub n_test_translations: usize,
    /// The names of the task's classes, when they have names.
    pub class_names: Option<Vec<String>>,
    pub run_dir: String,
}

/// Test translations shown in the report.
pub const SHOWN_TRANSLATIONS: usize = 3;

impl RunReport {
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "model": self.model, "seed": self.seed, "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch, "stopped_early": self.stopped_early, "params": self.params,
            "train_seconds": self.train_seconds, "selection": self.selection,
            "train_tokens_per_second": self.train_tokens_per_second,
            "valid": metrics_object(&self.valid), "test": metrics_object(&self.test),
            "test_confusion": self.confusion, "run_dir": self.run_dir,
            "test_translations": self.test_translations.iter()
                .map(|(r, h)| serde_json::json!({"reference": r, "translation": h}))
                .collect::<Vec<_>>(),
        });
        if let Some(names) = &self.class_names {
            json["classes"] = serde_json::json!(names);
        }
        json
    }

    pub fn write(&self, run_dir: &Path) -> Result<(), RunError> {
        let text = serde_json::to_string_pretty(&self.to_json())
            .map_err(|e| RunError::Io(e.to_string()))?;
        write_atomic(&run_dir.join("report.json"), text.as_bytes())
    }

    pub fn test_metric(&self, name: &str) -> Option<f64> {
        self.test.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model {}  seed {}  params {}  epochs {}{}  best epoch {} (by {})",
            self.model,
            self.seed,
            self.params,
            self.epochs_run,
            if self.stopped_early {
                " (early stop)"
            } else {
                ""
            },
            self.best_epoch,
            self.selection
        )?;
        writeln!(f, "{:<24} {:>12} {:>12}", "metric", "valid", "test")?;
        for (k, v) in &self.valid {
            let t = self
                .test_metric(k)
                .map(|t| format!("{t:>12.4}"))
                .unwrap_or_else(|| format!("{:>12}", "-"));
            writeln!(f, "{k:<24} {v:>12.4} {t}")?;
        }
        // Test-only metrics (beam-search BLEU of a translation task).
        for (k, t) in self
            .test
            .iter()
            .filter(|(k, _)| !self.valid.iter().any(|(v, _)| v == k))
        {
            writeln!(f, "{k:<24} {:>12} {t:>12.4}", "-")?;
        }
        if let Some(m) = &self.confusion {
            writeln!(
                f,
                "test confusion matrix (rows: true class, columns: predicted)"
            )?;
            match &self.class_names {
                Some(names) => write_named_matrix(f, m, names)?,
                None => {
                    for row in m {
                        let cells: Vec<String> = row.iter().map(|c| format!("{c:>4}")).collect();
                        writeln!(f, "{}", cells.join(""))?;
                    }
                }
            }
        }
        if let Some(speed) = self.train_tokens_per_second {
            writeln!(
                f,
                "training {speed:.0} tokens/s (source and target, padding excluded)"
            )?;
        }
        if !self.test_translations.is_empty() {
            writeln!(
                f,
                "test translations (beam 5; {} of {}, all in translations_test.txt)",
                self.test_translations.len(),
                self.n_test_translations
            )?;
            for (reference, translation) in &self.test_translations {
                writeln!(
                    f,
                    "  reference:   {reference}\n  translation: {translation}"
                )?;
            }
        }
        Ok(())
    }
}

/// A confusion matrix with the class names as row labels and column heads.
fn write_named_matrix(
    f: &mut fmt::Formatter<'_>,
    m: &[Vec<usize>],
    names: &[String],
) -> fmt::Result {
    let name = |i: usize| names.get(i).map_or_else(|| i.to_string(), Clone::clone);
    let label_width = (0..m.len())
        .map(|i| name(i).chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..m.first().map_or(0, Vec::len))
        .map(|j| {
            let cells = m.iter().map(|r| r[j].to_string().len());
            cells.chain([name(j).chars().count(), 3]).max().unwrap_or(3)
        })
        .collect();
    let head: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(j, w)| format!(" {:>w$}", name(j)))
        .collect();
    writeln!(f, "{:label_width$}{}", "", head.join(""))?;
    for (i, row) in m.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:>w$}"))
            .collect();
        writeln!(f, "{:<label_width$}{}", name(i), cells.join(""))?;
    }
    Ok(())
}
