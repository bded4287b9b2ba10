//! Robustness evaluation: a trained network evaluated on one split with one input at a time removed (zeroed,
//! or replaced by its training mean) or corrupted with Gaussian noise at several levels, as MultiBench measures
//! it in scripts. The cases come from the plan's `robustness = [...]` (or every float input by default); the
//! result is a table of every metric per case, printed by `fusec eval --robustness` and written as CSV.

use std::fmt::Write as _;

use super::evaluate::evaluate;
use super::objective::Objectives;
use super::RunError;
use crate::backend::Network;
use crate::data::{Dataset, FieldValues};
use crate::ir::{Model, Perturbation, RobustnessCase, TrainPlan};
use crate::rng::SeededRng;

/// The noise levels of the default cases (standard deviations on standardized inputs).
pub const DEFAULT_NOISE: [f64; 3] = [0.1, 0.5, 1.0];

/// One evaluated case; `case` is `None` for the unperturbed baseline.
#[derive(Clone, Debug)]
pub struct RobustnessRow {
    pub case: Option<(String, Perturbation)>,
    pub metrics: Vec<(String, f64)>,
}

#[derive(Clone, Debug)]
pub struct RobustnessTable {
    pub split: String,
    pub n_examples: usize,
    /// The baseline first, then the cases in plan order.
    pub rows: Vec<RobustnessRow>,
}

/// The plan's cases, or (when it declares none) for every float input of `model`: zeroed, mean-imputed and
/// noised at [`DEFAULT_NOISE`]. The task target is never perturbed.
pub fn robustness_cases(plan: &TrainPlan, model: &Model) -> Vec<(String, Perturbation)> {
    if !plan.robustness.is_empty() {
        let cases = plan.robustness.iter();
        return cases
            .map(|c: &RobustnessCase| (c.field.clone(), c.perturbation))
            .collect();
    }
    let mut out = Vec::new();
    let inputs = model.inputs.iter().filter(|i| i.dtype.is_float());
    for input in inputs.filter(|i| i.name != plan.task.target) {
        out.push((input.name.clone(), Perturbation::Zero));
        out.push((input.name.clone(), Perturbation::Mean));
        for std in DEFAULT_NOISE {
            out.push((input.name.clone(), Perturbation::Noise { std }));
        }
    }
    out
}

/// Evaluates `net` on `split` (`train`, `valid` or `test`) unperturbed and under every case. `data` is perturbed in place one field at a
/// time and restored after each case. Noise is drawn from a generator seeded by `seed` and the case's
/// position, so the table is reproducible and does not depend on which other cases run.
pub fn robustness(
    net: &Network,
    data: &mut Dataset,
    split: &str,
    plan: &TrainPlan,
    objectives: &Objectives,
    cases: &[(String, Perturbation)],
    seed: u64,
) -> Result<RobustnessTable, RunError> {
    let indices = data
        .split(split)
        .ok_or_else(|| {
            RunError::Config(format!("unknown split `{split}`; use train, valid or test"))
        })?
        .to_vec();
    let indices = indices.as_slice();
    let mut rows = vec![RobustnessRow {
        case: None,
        metrics: evaluate(net, data, indices, plan, objectives)?.metrics,
    }];
    for (i, (field, p)) in cases.iter().enumerate() {
        let mut rng = SeededRng::stream(seed, 1000 + i as u64);
        let perturbed = perturb(data, field, *p, indices, &mut rng)?;
        let original = swap_values(data, field, perturbed)?;
        let result = evaluate(net, data, indices, plan, objectives);
        swap_values(data, field, original)?;
        rows.push(RobustnessRow {
            case: Some((field.clone(), *p)),
            metrics: result?.metrics,
        });
    }
    Ok(RobustnessTable {
        split: split.to_string(),
        n_examples: indices.len(),
        rows,
    })
}

/// Replaces the values of `field`, returning the old ones.
fn swap_values(data: &mut Dataset, field: &str, values: Vec<f32>) -> Result<Vec<f32>, RunError> {
    match data.fields.get_mut(field).map(|f| &mut f.values) {
        Some(FieldValues::F32(v)) => Ok(std::mem::replace(v, values)),
        _ => Err(not_float(field)),
    }
}

fn not_float(field: &str) -> RunError {
    RunError::Config(format!(
        "robustness: `{field}` is not a float field of the data set"
    ))
}

/// A copy of `field`'s values with the examples `indices` perturbed.
fn perturb(
    data: &Dataset,
    field: &str,
    p: Perturbation,
    indices: &[usize],
    rng: &mut SeededRng,
) -> Result<Vec<f32>, RunError> {
    let f = data.fields.get(field).ok_or_else(|| not_float(field))?;
    let FieldValues::F32(values) = &f.values else {
        return Err(not_float(field));
    };
    let per = f.example_shape.iter().product::<usize>().max(1);
    let d = f.example_shape.last().copied().unwrap_or(1).max(1);
    let (mean, std) = feature_stats(values, per, d, &data.train);
    let mut out = values.clone();
    for &i in indices {
        let row = &mut out[i * per..(i + 1) * per];
        for (j, v) in row.iter_mut().enumerate() {
            *v = match p {
                Perturbation::Zero => 0.0,
                Perturbation::Mean => mean[j % d] as f32,
                Perturbation::Noise { std: level } => {
                    *v + (level * std[j % d] * rng.normal()) as f32
                }
            };
        }
    }
    Ok(out)
}

/// Per-feature (last axis) mean and population standard deviation over the training examples, as the model
/// sees them (after standardization, so about 0 and 1 for standardized fields).
fn feature_stats(values: &[f32], per: usize, d: usize, train: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let (mut sum, mut sq) = (vec![0.0f64; d], vec![0.0f64; d]);
    let mut count = 0usize;
    for &i in train {
        for (j, v) in values[i * per..(i + 1) * per].iter().enumerate() {
            sum[j % d] += f64::from(*v);
            sq[j % d] += f64::from(*v) * f64::from(*v);
        }
        count += per / d;
    }
    let n = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| (s / n - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// `zero`, `mean` or `noise`, and the level (empty unless noise).
pub fn describe(p: Perturbation) -> (&'static str, String) {
    match p {
        Perturbation::Zero => ("zero", String::new()),
        Perturbation::Mean => ("mean", String::new()),
        Perturbation::Noise { std } => ("noise", format!("{std}")),
    }
}

impl RobustnessTable {
    /// Every metric of every row: `input,perturbation,level,<metric>...`; the baseline is `none,none,`.
    pub fn to_csv(&self) -> String {
        let names: Vec<&str> = self.metric_names();
        let mut out = format!("input,perturbation,level,{}\n", names.join(","));
        for row in &self.rows {
            let (input, kind, level) = row_labels(row);
            let values: Vec<String> = names
                .iter()
                .map(|n| lookup(row, n).map(|v| format!("{v}")).unwrap_or_default())
                .collect();
            let _ = writeln!(out, "{input},{kind},{level},{}", values.join(","));
        }
        out
    }

    /// A text table of `metrics` (columns) per case (rows), with each metric's change from the baseline.
    pub fn render(&self, metrics: &[String]) -> String {
        let mut out = format!(
            "robustness on {} ({} examples)\n{:<12} {:<8} {:>6}",
            self.split, self.n_examples, "input", "perturb", "level"
        );
        for m in metrics {
            let _ = write!(out, " {m:>14} {:>8}", "change");
        }
        out.push('\n');
        let base = self.rows.first();
        for row in &self.rows {
            let (input, kind, level) = row_labels(row);
            let _ = write!(out, "{input:<12} {kind:<8} {level:>6}");
            for m in metrics {
                let v = lookup(row, m);
                let delta = v.zip(base.and_then(|b| lookup(b, m))).map(|(v, b)| v - b);
                let shown = |x: Option<f64>, signed: bool| match (x, signed) {
                    (Some(x), true) => format!("{x:+.4}"),
                    (Some(x), false) => format!("{x:.4}"),
                    (None, _) => "-".to_string(),
                };
                let _ = write!(out, " {:>14} {:>8}", shown(v, false), shown(delta, true));
            }
            out.push('\n');
        }
        out
    }

    /// The metric names of the baseline row, in evaluation order.
    pub fn metric_names(&self) -> Vec<&str> {
        self.rows
            .first()
            .map(|r| r.metrics.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default()
    }
}

fn row_labels(row: &RobustnessRow) -> (String, &'static str, String) {
    match &row.case {
        None => ("none".to_string(), "none", String::new()),
        Some((field, p)) => {
            let (kind, level) = describe(*p);
            (field.clone(), kind, level)
        }
    }
}

fn lookup(row: &RobustnessRow, name: &str) -> Option<f64> {
    row.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

#[cfg(test)]
#[path = "tests/robustness.rs"]
mod tests;
