//! Reading what `fusec plot` draws from the files runs leave: `metrics.jsonl` (learning curves), `report.json`
//! and `config.json` (best epoch, selection metric, test confusion matrix, class names), `robustness_SPLIT.csv`
//! (the robustness table) and a comparison's `compare.csv`. A missing file means "no such figure"; a damaged one
//! is a `fusec::plot::rundir` diagnostic naming it.

use std::path::Path;

use serde_json::Value;

use crate::diag::Diagnostic;
use crate::plot::{Bar, HeatMap, RunCurves, Series};

use super::compare::higher_is_better;

/// A diagnostic about a file of a run directory.
pub(super) fn damaged(path: &Path, why: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(
        "fusec::plot::rundir",
        format!("{} cannot be read: {why}", path.display()),
    )
    .help("the file is damaged or was written by another program; run the command that writes it again")
}

/// A JSON file, or `None` when it does not exist.
fn read_json(path: &Path) -> Result<Option<Value>, Diagnostic> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| damaged(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(damaged(path, e)),
    }
}

/// What a run directory says about selection: `(key, maximize, best epoch)`, from `report.json` when the run
/// finished, else from the plan recorded in `config.json`.
fn selection(dir: &Path) -> Result<(Option<String>, bool, Option<usize>), Diagnostic> {
    let config = read_json(&dir.join("config.json"))?;
    let select = config
        .as_ref()
        .and_then(|c| c.pointer("/resolved/train/select").cloned());
    let maximize = select
        .as_ref()
        .and_then(|s| s.get("maximize"))
        .and_then(Value::as_bool);
    let mut key = select.as_ref().and_then(|s| {
        let split = s.get("split")?.as_str()?;
        let metric = s.get("metric")?.as_str()?;
        Some(format!("{split}.{metric}"))
    });
    let report = read_json(&dir.join("report.json"))?;
    let best = report
        .as_ref()
        .and_then(|r| r.get("best_epoch"))
        .and_then(Value::as_u64)
        .map(|b| b as usize);
    if let Some(k) = report
        .as_ref()
        .and_then(|r| r.get("selection"))
        .and_then(Value::as_str)
    {
        key = Some(k.to_string());
    }
    let maximize = maximize.unwrap_or_else(|| {
        key.as_deref()
            .map(|k| higher_is_better(k.rsplit('.').next().unwrap_or(k)))
            .unwrap_or(false)
    });
    Ok((key, maximize, best))
}

/// The learning curves of a run directory, or `None` when it has no `metrics.jsonl`.
pub(super) fn curves(dir: &Path, name: &str) -> Result<Option<RunCurves>, Diagnostic> {
    let path = dir.join("metrics.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(damaged(&path, e)),
    };
    let mut rows: Vec<serde_json::Map<String, Value>> = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) if m.get("epoch").is_some_and(Value::is_u64) => rows.push(m),
            _ => {
                return Err(damaged(
                    &path,
                    format!("line {} is not an epoch's record", i + 1),
                ))
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let series = |key: &str, label: &str| Series {
        label: label.to_string(),
        points: rows
            .iter()
            .filter_map(|r| Some((r.get("epoch")?.as_f64()?, r.get(key)?.as_f64()?)))
            .filter(|(_, v)| v.is_finite())
            .collect(),
    };
    let keys: Vec<String> = rows[0].keys().cloned().collect();
    let mut losses: Vec<Series> = keys
        .iter()
        .filter_map(|k| match k.strip_prefix("train.loss") {
            Some("") => Some(series(k, "train loss")),
            Some(step) => Some(series(
                k,
                &format!("train loss ({})", step.trim_start_matches('.')),
            )),
            None => None,
        })
        .collect();
    if keys.iter().any(|k| k == "valid.loss") {
        losses.push(series("valid.loss", "valid loss"));
    }
    let (key, maximize, best) = selection(dir)?;
    let key = key.unwrap_or_else(|| "valid.loss".to_string());
    let metric = (key != "valid.loss" && keys.contains(&key)).then(|| series(&key, &key));
    let picked = metric
        .as_ref()
        .or_else(|| losses.iter().find(|s| s.label == "valid loss"));
    let best = best.or_else(|| picked.and_then(|s| best_epoch(s, maximize)));
    Ok(Some(RunCurves {
        name: name.to_string(),
        losses,
        metric,
        selection: key,
        best_epoch: best,
    }))
}

/// The first epoch with the best value (the trainer keeps the first of equal values).
fn best_epoch(s: &Series, maximize: bool) -> Option<usize> {
    let better = |a: f64, b: f64| if maximize { a > b } else { a < b };
    let mut best: Option<(f64, f64)> = None;
    for &(x, v) in &s.points {
        if best.is_none_or(|(_, b)| better(v, b)) {
            best = Some((x, v));
        }
    }
    best.map(|(x, _)| x as usize)
}

/// The test confusion matrix of a finished classification run, its classes named by the recorded label names
/// of the task's target (indices when the data has none).
pub(super) fn confusion(dir: &Path, name: &str) -> Result<Option<HeatMap>, Diagnostic> {
    let path = dir.join("report.json");
    let Some(report) = read_json(&path)? else {
        return Ok(None);
    };
    let Some(matrix) = report.get("test_confusion").filter(|m| !m.is_null()) else {
        return Ok(None);
    };
    let counts: Vec<Vec<f64>> = serde_json::from_value::<Vec<Vec<u64>>>(matrix.clone())
        .map_err(|e| damaged(&path, format!("test_confusion: {e}")))?
        .into_iter()
        .map(|row| row.into_iter().map(|c| c as f64).collect())
        .collect();
    let n = counts.len();
    if counts.iter().any(|r| r.len() != n) {
        return Err(damaged(&path, "test_confusion is not a square matrix"));
    }
    let names = class_names(dir)?
        .filter(|names| names.len() == n)
        .unwrap_or_else(|| (0..n).map(|i| i.to_string()).collect());
    // Each cell is shaded by its share of its row (the recall of the true class), so rare classes read too.
    let shade = counts
        .iter()
        .map(|row| {
            let total: f64 = row.iter().sum();
            row.iter()
                .map(|c| if total > 0.0 { c / total } else { 0.0 })
                .collect()
        })
        .collect();
    Ok(Some(HeatMap {
        title: format!("test confusion matrix: {name}"),
        row_axis: "true class".into(),
        col_axis: "predicted class".into(),
        rows: names.clone(),
        cols: names,
        values: counts,
        shade,
        decimals: 0,
    }))
}

/// The recorded class names of the task's target field, if the data named them.
fn class_names(dir: &Path) -> Result<Option<Vec<String>>, Diagnostic> {
    let Some(config) = read_json(&dir.join("config.json"))? else {
        return Ok(None);
    };
    let target = config
        .pointer("/resolved/train/task/target")
        .and_then(Value::as_str);
    let names = target.and_then(|t| config.get("label_names")?.get(t));
    Ok(names.and_then(|n| serde_json::from_value(n.clone()).ok()))
}

/// Every `robustness_SPLIT.csv` of a run directory as a heat map: cases down, metrics across, each cell shaded
/// by how much worse (red) or better (blue) than the unperturbed row it is, relative to that row.
pub(super) fn robustness(dir: &Path, name: &str) -> Result<Vec<(String, HeatMap)>, Diagnostic> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| damaged(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with("robustness_") && n.ends_with(".csv")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("robustness");
        let split = stem.trim_start_matches("robustness_").to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| damaged(&path, e))?;
        let map = robustness_table(&text, &format!("robustness on {split}: {name}"))
            .map_err(|why| damaged(&path, why))?;
        out.push((stem.to_string(), map));
    }
    Ok(out)
}

/// A CSV text's header fields and its remaining non-empty lines.
fn csv_header(text: &str) -> Result<(Vec<&str>, impl Iterator<Item = &str>), String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or("the file is empty")?
        .split(',')
        .collect();
    Ok((header, lines))
}

/// Parses the CSV of `RobustnessTable::to_csv` (`input,perturbation,level,<metrics>`; first row unperturbed).
fn robustness_table(text: &str, title: &str) -> Result<HeatMap, String> {
    let (header, lines) = csv_header(text)?;
    if header.len() < 4 || header[..3] != ["input", "perturbation", "level"] {
        return Err("the header is not `input,perturbation,level,<metrics>`".into());
    }
    let cols: Vec<String> = header[3..].iter().map(|s| s.to_string()).collect();
    let (mut rows, mut values) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        // The input may itself hold commas (`[audio, vision]`): the last cells are the metrics.
        if cells.len() < header.len() {
            return Err(format!(
                "row {} has {} cells, not {}",
                i + 2,
                cells.len(),
                header.len()
            ));
        }
        let split_at = cells.len() - cols.len();
        let (labels, metrics) = cells.split_at(split_at);
        let level = labels[split_at - 1];
        let kind = labels[split_at - 2];
        let input = labels[..split_at - 2].join(",");
        rows.push(match kind {
            "none" => "unperturbed".to_string(),
            _ if level.is_empty() => format!("{input} {kind}"),
            _ => format!("{input} {kind} {level}"),
        });
        let parsed = metrics
            .iter()
            .map(|c| {
                if c.is_empty() {
                    Ok(f64::NAN)
                } else {
                    c.trim().parse::<f64>()
                }
            })
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|e| format!("row {}: {e}", i + 2))?;
        values.push(parsed);
    }
    let base = values.first().cloned().ok_or("the table has no rows")?;
    let shade = values
        .iter()
        .map(|row| {
            row.iter()
                .zip(&base)
                .zip(&cols)
                .map(|((v, b), metric)| {
                    let sign = if lower_is_better(metric) { -1.0 } else { 1.0 };
                    let rel = sign * (v - b) / b.abs().max(1e-12);
                    // Shades saturate at a 50% change.
                    if rel.is_finite() {
                        (rel * 2.0).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Ok(HeatMap {
        title: title.to_string(),
        row_axis: "perturbation".into(),
        col_axis: "metric".into(),
        rows,
        cols,
        values,
        shade,
        decimals: 3,
    })
}

/// Losses (`loss`, `loss.task`, `d_loss`) and errors (`mae`) improve downwards.
fn lower_is_better(metric: &str) -> bool {
    metric.starts_with("loss.") || !higher_is_better(metric)
}

/// A comparison's `compare.csv` as bars, or `None` when the directory has none.
pub(super) fn comparison(dir: &Path) -> Result<Option<(String, Vec<Bar>)>, Diagnostic> {
    let path = dir.join("compare.csv");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(damaged(&path, e)),
    };
    compare_bars(&text)
        .map(Some)
        .map_err(|why| damaged(&path, why))
}

/// Parses `compare.csv` (`method,...,M_mean,M_std,M_per_seed`).
fn compare_bars(text: &str) -> Result<(String, Vec<Bar>), String> {
    let (header, lines) = csv_header(text)?;
    let n = header.len();
    let metric_columns = n >= 4
        && header[n - 3].ends_with("_mean")
        && header[n - 2].ends_with("_std")
        && (header[n - 1].ends_with("_per_seed") || header[n - 1].ends_with("_per_fold"));
    if !metric_columns {
        return Err(
            "the header does not end in `<metric>_mean,<metric>_std,<metric>_per_seed`".into(),
        );
    }
    let mean = n - 3;
    let metric = header[mean].trim_end_matches("_mean").to_string();
    let mut bars = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(format!(
                "row {} has {} cells, not {}",
                i + 2,
                cells.len(),
                header.len()
            ));
        }
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|e| format!("row {}: `{s}`: {e}", i + 2))
        };
        let values = cells[mean + 2]
            .split(';')
            .filter(|s| !s.is_empty())
            .map(num)
            .collect::<Result<Vec<f64>, String>>()?;
        bars.push(Bar {
            label: cells[0].to_string(),
            mean: num(cells[mean])?,
            std: num(cells[mean + 1])?,
            values,
        });
    }
    if bars.is_empty() {
        return Err("the table has no methods".into());
    }
    Ok((metric, bars))
}
