//! Evaluation metrics over plain slices, with scikit-learn's definitions (zero_division = 0): accuracy,
//! per-class precision/recall/F1, macro and weighted F1, confusion matrices, MulT's binary-per-label IEMOCAP
//! metrics and the CMU-MOSI/MOSEI regression metrics (MAE, correlation, binary and 7-class accuracy).

use crate::ir::TaskKind;

/// Computes the metrics `names` (all of the task's metrics, per-label ones included, when `names` is empty)
/// from row-major model outputs and targets. Errors name the valid metrics or the shape problem.
pub fn compute_metrics(
    kind: &TaskKind,
    names: &[String],
    outputs: &[f32],
    output_shape: &[usize],
    targets: &[f64],
    target_shape: &[usize],
) -> Result<Vec<(String, f64)>, String> {
    compute_metrics_with_labels(
        kind,
        names,
        None,
        outputs,
        output_shape,
        targets,
        target_shape,
    )
}

/// [`compute_metrics`] with label names for `BinaryPerLabel` (lower-cased in metric names: `neutral.acc`);
/// without them labels are called `label0`, `label1`, ...
pub fn compute_metrics_with_labels(
    kind: &TaskKind,
    names: &[String],
    label_names: Option<&[String]>,
    outputs: &[f32],
    output_shape: &[usize],
    targets: &[f64],
    target_shape: &[usize],
) -> Result<Vec<(String, f64)>, String> {
    check_len("outputs", outputs.len(), output_shape)?;
    check_len("targets", targets.len(), target_shape)?;
    let all = match kind {
        TaskKind::Classification => {
            classification_set(outputs, output_shape, targets, target_shape)?
        }
        TaskKind::BinaryPerLabel => {
            per_label_set(outputs, output_shape, targets, target_shape, label_names)?
        }
        TaskKind::Regression => regression_set(outputs, output_shape, targets, target_shape)?,
        // BLEU and chrF need decoding, which `run::translation` does with the network.
        TaskKind::Translation => {
            return Err("translation metrics come from decoding, not from logits".into())
        }
    };
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| match all.iter().find(|(k, _)| k == n) {
            Some(kv) => Ok(kv.clone()),
            None => Err(unknown_metric(n, kind, &all)),
        })
        .collect()
}

fn unknown_metric(name: &str, kind: &TaskKind, all: &[(String, f64)]) -> String {
    let valid: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let hint = crate::diag::did_you_mean(name, valid.iter().copied())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    format!(
        "unknown metric `{name}` for a {kind:?} task{hint}; valid metrics: {}",
        valid.join(", ")
    )
}

fn check_len(what: &str, len: usize, shape: &[usize]) -> Result<(), String> {
    let n: usize = shape.iter().product();
    if n != len || shape.is_empty() {
        return Err(format!("{what} have {len} values but shape {shape:?}"));
    }
    if shape[0] == 0 {
        return Err(format!(
            "no examples to compute metrics on ({what} shape {shape:?})"
        ));
    }
    Ok(())
}

/// A target value as a class index in `0..n_classes`.
fn class_index(v: f64, n_classes: usize) -> Result<usize, String> {
    if v.fract() != 0.0 || v < 0.0 || v >= n_classes as f64 {
        return Err(format!("target {v} is not a class index in 0..{n_classes}"));
    }
    Ok(v as usize)
}

/// Index of the largest value, the first one on ties (as numpy and torch `argmax`). NaN never wins.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] || row[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

fn classification_set(
    outputs: &[f32],
    output_shape: &[usize],
    targets: &[f64],
    target_shape: &[usize],
) -> Result<Vec<(String, f64)>, String> {
    let [n, c] = output_shape else {
        return Err(format!(
            "classification outputs must be logits [N, C], got {output_shape:?}"
        ));
    };
    if target_shape.iter().product::<usize>() != *n || target_shape[0] != *n {
        return Err(format!(
            "targets {target_shape:?} do not match logits {output_shape:?}"
        ));
    }
    let preds: Vec<usize> = outputs.chunks(*c).map(argmax).collect();
    let labels = targets
        .iter()
        .map(|v| class_index(*v, *c))
        .collect::<Result<Vec<_>, _>>()?;
    let report = ClassReport::new(&preds, &labels, *c);
    Ok(vec![
        ("accuracy".into(), accuracy(&preds, &labels)),
        ("f1_macro".into(), report.macro_avg(&report.f1)),
        ("f1_weighted".into(), report.weighted_f1()),
        (
            "precision_macro".into(),
            report.macro_avg(&report.precision),
        ),
        ("recall_macro".into(), report.macro_avg(&report.recall)),
    ])
}

/// Fraction of equal pairs.
pub fn accuracy(preds: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let hits = preds.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / labels.len() as f64
}

/// `m[true][pred]`: rows are true labels, as scikit-learn. Values outside `0..n_classes` are not counted.
pub fn confusion_matrix(preds: &[usize], labels: &[usize], n_classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; n_classes]; n_classes];
    for (p, l) in preds.iter().zip(labels) {
        if *p < n_classes && *l < n_classes {
            m[*l][*p] += 1;
        }
    }
    m
}

/// Per-class precision, recall, F1 and support (scikit-learn, zero_division = 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassReport {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub support: Vec<usize>,
    /// Whether the class occurs among the labels or the predictions: scikit-learn's macro averages are over
    /// those classes only.
    pub present: Vec<bool>,
}

impl ClassReport {
    pub fn new(preds: &[usize], labels: &[usize], n_classes: usize) -> ClassReport {
        let m = confusion_matrix(preds, labels, n_classes);
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut r = ClassReport {
            precision: Vec::new(),
            recall: Vec::new(),
            f1: Vec::new(),
            support: Vec::new(),
            present: Vec::new(),
        };
        for c in 0..n_classes {
            let tp = m[c][c];
            let support: usize = m[c].iter().sum();
            let predicted: usize = m.iter().map(|row| row[c]).sum();
            r.precision.push(ratio(tp, predicted));
            r.recall.push(ratio(tp, support));
            // 2TP / (2TP + FP + FN), as scikit-learn computes it.
            r.f1.push(ratio(2 * tp, support + predicted));
            r.support.push(support);
            r.present.push(support + predicted > 0);
        }
        r
    }

    /// Unweighted mean over the present classes.
    pub fn macro_avg(&self, per_class: &[f64]) -> f64 {
        let vals: Vec<f64> = per_class
            .iter()
            .zip(&self.present)
            .filter(|(_, p)| **p)
            .map(|(v, _)| *v)
            .collect();
        if vals.is_empty() {
            return 0.0;
        }
        vals.iter().sum::<f64>() / vals.len() as f64
    }

    /// Mean F1 weighted by support.
    pub fn weighted_f1(&self) -> f64 {
        let total: usize = self.support.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let s: f64 = self
            .f1
            .iter()
            .zip(&self.support)
            .map(|(f, s)| f * *s as f64)
            .sum();
        s / total as f64
    }
}

/// MulT's IEMOCAP metrics for one binary label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelMetrics {
    pub acc: f64,
    /// F1 of classes 0 and 1 weighted by their support.
    pub f1_weighted: f64,
    /// Share of the more frequent true class: what always predicting it would score.
    pub majority: f64,
    /// F1 of class 1 (the emotion present).
    pub f1_pos: f64,
}

/// Reads one metric out of a [`LabelMetrics`].
type Getter = fn(&LabelMetrics) -> f64;

/// Metrics per label from `[N, K]` row-major 0/1 predictions and labels.
pub fn binary_per_label(preds: &[usize], labels: &[usize], k: usize) -> Vec<LabelMetrics> {
    (0..k)
        .map(|j| {
            let p: Vec<usize> = preds.iter().skip(j).step_by(k).copied().collect();
            let l: Vec<usize> = labels.iter().skip(j).step_by(k).copied().collect();
            let report = ClassReport::new(&p, &l, 2);
            let ones = l.iter().filter(|v| **v == 1).count();
            let majority = ones.max(l.len() - ones) as f64 / l.len().max(1) as f64;
            LabelMetrics {
                acc: accuracy(&p, &l),
                f1_weighted: report.weighted_f1(),
                majority,
                f1_pos: report.f1[1],
            }
        })
        .collect()
}

fn per_label_set(
    outputs: &[f32],
    output_shape: &[usize],
    targets: &[f64],
    target_shape: &[usize],
    label_names: Option<&[String]>,
) -> Result<Vec<(String, f64)>, String> {
    let shape_error = || {
        format!(
            "binary-per-label outputs must be [N, K, 2] or [N, 2K] with targets [N, K], got {output_shape:?} \
             and {target_shape:?}"
        )
    };
    let [n, k] = *target_shape else {
        return Err(shape_error());
    };
    let fits = match *output_shape {
        [on, ok, 2] => on == n && ok == k,
        [on, ok2] => on == n && ok2 == 2 * k,
        _ => false,
    };
    if !fits {
        return Err(shape_error());
    }
    let preds: Vec<usize> = outputs.chunks(2).map(argmax).collect();
    let labels = targets
        .iter()
        .map(|v| class_index(*v, 2))
        .collect::<Result<Vec<_>, _>>()?;
    let per = binary_per_label(&preds, &labels, k);
    let name = |j: usize| match label_names.and_then(|ns| ns.get(j)) {
        Some(s) => s.to_lowercase(),
        None => format!("label{j}"),
    };
    let mean = |f: Getter| per.iter().map(f).sum::<f64>() / k.max(1) as f64;
    let fields: [(&str, Getter); 4] = [
        ("acc", |m| m.acc),
        ("f1_weighted", |m| m.f1_weighted),
        ("majority", |m| m.majority),
        ("f1_pos", |m| m.f1_pos),
    ];
    let mut out: Vec<(String, f64)> = fields
        .iter()
        .map(|(s, f)| (s.to_string(), mean(*f)))
        .collect();
    for (j, m) in per.iter().enumerate() {
        out.extend(
            fields
                .iter()
                .map(|(s, f)| (format!("{}.{s}", name(j)), f(m))),
        );
    }
    Ok(out)
}

fn regression_set(
    outputs: &[f32],
    output_shape: &[usize],
    targets: &[f64],
    target_shape: &[usize],
) -> Result<Vec<(String, f64)>, String> {
    let column = |s: &[usize]| matches!(s, [_] | [_, 1]);
    if !column(output_shape) || !column(target_shape) || output_shape[0] != target_shape[0] {
        return Err(format!(
            "regression outputs and targets must be [N] or [N, 1], got {output_shape:?} and {target_shape:?}"
        ));
    }
    let preds: Vec<f64> = outputs.iter().map(|v| *v as f64).collect();
    let all = binary_sentiment(&preds, targets, false);
    let nonzero = binary_sentiment(&preds, targets, true);
    Ok(vec![
        ("mae".into(), mae(&preds, targets)),
        ("corr".into(), pearson(&preds, targets)),
        ("acc2".into(), all.acc),
        ("f1".into(), all.f1),
        ("acc2_nonzero".into(), nonzero.acc),
        ("f1_nonzero".into(), nonzero.f1),
        ("f1_nonzero_mult".into(), nonzero.f1_mult),
        ("acc7".into(), acc7(&preds, targets)),
    ])
}

/// Mean absolute error.
pub fn mae(preds: &[f64], truth: &[f64]) -> f64 {
    let s: f64 = preds.iter().zip(truth).map(|(p, t)| (p - t).abs()).sum();
    s / truth.len().max(1) as f64
}

/// Pearson correlation (numpy's `corrcoef`); NaN when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Binary sentiment metrics under one convention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinarySentiment {
    pub acc: f64,
    /// scikit-learn's weighted F1 with the truth as `y_true`.
    pub f1: f64,
    /// The same with the arguments swapped, as MulT's `eval_mosei_senti` calls `f1_score(preds, truth)`:
    /// per-class F1 is symmetric, but the weights become the predicted class counts.
    pub f1_mult: f64,
}

/// Binary sentiment metrics. With `exclude_zero`, examples whose truth is 0 are dropped and the classes are
/// negative vs positive (MulT's convention); otherwise negative vs non-negative over all examples.
pub fn binary_sentiment(preds: &[f64], truth: &[f64], exclude_zero: bool) -> BinarySentiment {
    let cls = |v: f64| usize::from(if exclude_zero { v > 0.0 } else { v >= 0.0 });
    let keep = preds
        .iter()
        .zip(truth)
        .filter(|(_, t)| !exclude_zero || **t != 0.0);
    let (p, l): (Vec<usize>, Vec<usize>) = keep.map(|(p, t)| (cls(*p), cls(*t))).unzip();
    BinarySentiment {
        acc: accuracy(&p, &l),
        f1: ClassReport::new(&p, &l, 2).weighted_f1(),
        f1_mult: ClassReport::new(&l, &p, 2).weighted_f1(),
    }
}

/// 7-class accuracy: both sides clipped to [-3, 3] and rounded half to even (numpy's `round`).
pub fn acc7(preds: &[f64], truth: &[f64]) -> f64 {
    let bin = |v: f64| v.clamp(-3.0, 3.0).round_ties_even();
    let hits = preds
        .iter()
        .zip(truth)
        .filter(|(p, t)| bin(**p) == bin(**t))
        .count();
    hits as f64 / truth.len().max(1) as f64
}
