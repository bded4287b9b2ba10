//! Metrics against scikit-learn (tests/fixtures/metrics.json) and hand-computed regression values.

use fusec::ir::TaskKind;
use fusec::train::metrics::{acc7, binary_sentiment, mae, pearson, ClassReport};
use fusec::train::{compute_metrics, confusion_matrix};

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9, "{what}: {a} vs {b}");
}

fn get(metrics: &[(String, f64)], name: &str) -> f64 {
    metrics
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
        .1
}

/// Logits whose argmax is `preds` (4 classes).
fn one_hot_logits(preds: &[usize], c: usize) -> Vec<f32> {
    preds
        .iter()
        .flat_map(|p| (0..c).map(move |k| if k == *p { 2.0 } else { -1.0 + k as f32 * 0.1 }))
        .collect()
}

#[test]
fn multiclass_matches_scikit_learn() {
    let fx = &fixture()["multiclass"];
    let (labels, preds) = (usizes(&fx["labels"]), usizes(&fx["preds"]));
    let n = labels.len();
    let logits = one_hot_logits(&preds, 4);
    let targets: Vec<f64> = labels.iter().map(|l| *l as f64).collect();
    let m = compute_metrics(
        &TaskKind::Classification,
        &[],
        &logits,
        &[n, 4],
        &targets,
        &[n],
    )
    .unwrap();
    for key in [
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "precision_macro",
        "recall_macro",
    ] {
        close(get(&m, key), fx[key].as_f64().unwrap(), key);
    }
    let report = ClassReport::new(&preds, &labels, 4);
    for (ours, key) in [
        (&report.precision, "precision"),
        (&report.recall, "recall"),
        (&report.f1, "f1"),
    ] {
        for (a, b) in ours.iter().zip(f64s(&fx["per_class"][key])) {
            close(*a, b, key);
        }
    }
    assert_eq!(report.support, usizes(&fx["per_class"]["support"]));
    let cm: Vec<Vec<usize>> = fx["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(usizes)
        .collect();
    assert_eq!(confusion_matrix(&preds, &labels, 4), cm);
}

#[test]
fn iemocap_binary_matches_mult_eval() {
    let fx = &fixture()["iemocap_binary"];
    let logits: Vec<f32> = fx["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(f64s)
        .map(|v| v as f32)
        .collect();
    let labels: Vec<f64> = fx["labels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(usizes)
        .map(|v| v as f64)
        .collect();
    let names: Vec<String> = f64s_names(&fx["emotion_order"]);
    let m = fusec::train::metrics::compute_metrics_with_labels(
        &TaskKind::BinaryPerLabel,
        &[],
        Some(&names),
        &logits,
        &[40, 8],
        &labels,
        &[40, 4],
    )
    .unwrap();
    let mut acc_sum = 0.0;
    for name in &names {
        let want = &fx["per_emotion"][name.as_str()];
        let lower = name.to_lowercase();
        close(
            get(&m, &format!("{lower}.acc")),
            want["accuracy"].as_f64().unwrap(),
            name,
        );
        close(
            get(&m, &format!("{lower}.f1_weighted")),
            want["f1_weighted"].as_f64().unwrap(),
            name,
        );
        acc_sum += want["accuracy"].as_f64().unwrap();
    }
    close(get(&m, "acc"), acc_sum / 4.0, "mean acc");
    // Angry is never predicted present: its positive-class F1 is 0.
    close(get(&m, "angry.f1_pos"), 0.0, "angry f1_pos");
    // The same logits viewed [N, K, 2] give the same numbers, with generic names.
    let m3 = compute_metrics(
        &TaskKind::BinaryPerLabel,
        &[],
        &logits,
        &[40, 4, 2],
        &labels,
        &[40, 4],
    )
    .unwrap();
    close(
        get(&m3, "label3.f1_weighted"),
        get(&m, "angry.f1_weighted"),
        "generic names",
    );
}

fn f64s_names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn majority_rate_counts_the_larger_class() {
    // Label 0 is present in 3 of 4 rows; label 1 in 1 of 4.
    let logits = vec![
        0f32, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0,
    ];
    let labels = vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let names = vec![
        "label0.majority".to_string(),
        "label1.majority".to_string(),
        "label0.f1_pos".to_string(),
    ];
    let m = compute_metrics(
        &TaskKind::BinaryPerLabel,
        &names,
        &logits,
        &[4, 4],
        &labels,
        &[4, 2],
    )
    .unwrap();
    close(m[0].1, 0.75, "label0 majority");
    close(m[1].1, 0.75, "label1 majority");
    // label0: preds [1, 1, 1, 0], truth [1, 1, 1, 0]: perfect.
    close(m[2].1, 1.0, "label0 f1_pos");
}

#[test]
fn unknown_metric_lists_the_valid_ones() {
    let names = vec!["acuracy".to_string()];
    let err = compute_metrics(
        &TaskKind::Classification,
        &names,
        &[0.0, 1.0],
        &[1, 2],
        &[1.0],
        &[1],
    )
    .unwrap_err();
    assert!(err.contains("did you mean `accuracy`"), "{err}");
    for v in TaskKind::Classification.metric_names() {
        assert!(err.contains(v), "{err} lacks {v}");
    }
}

#[test]
fn bad_shapes_and_labels_are_errors() {
    let e = compute_metrics(
        &TaskKind::Classification,
        &[],
        &[0.0, 1.0, 2.0],
        &[1, 2],
        &[1.0],
        &[1],
    )
    .unwrap_err();
    assert!(e.contains("shape"), "{e}");
    let e = compute_metrics(
        &TaskKind::Classification,
        &[],
        &[0.0, 1.0],
        &[1, 2],
        &[2.0],
        &[1],
    )
    .unwrap_err();
    assert!(e.contains("not a class index"), "{e}");
}

#[test]
fn regression_metrics_by_hand() {
    let preds = [0.4, -1.6, 2.5, 3.6, -0.2, 0.0];
    let truth = [0.0, -2.0, 2.0, 2.8, 0.3, -0.6];
    // |diff| = 0.4, 0.4, 0.5, 0.8, 0.5, 0.6 -> 3.2 / 6
    close(mae(&preds, &truth), 3.2 / 6.0, "mae");
    // Non-negative vs negative over all: preds [1,0,1,1,0,1], truth [1,0,1,1,1,0]: 4/6 right.
    close(
        binary_sentiment(&preds, &truth, false).acc,
        4.0 / 6.0,
        "acc2",
    );
    // Excluding truth 0: rows 1..5, preds >0: [0,1,1,0,0], truth >0: [0,1,1,1,0]: 4/5.
    let nz = binary_sentiment(&preds, &truth, true);
    close(nz.acc, 0.8, "acc2 nonzero");
    // Class 0: tp 2, fp 1, fn 0 -> f1 0.8 (support 2); class 1: tp 2, fp 0, fn 1 -> f1 0.8 (support 3).
    close(nz.f1, 0.8, "f1 nonzero");
    // Rounded and clipped: preds [0, -2, 2 (half to even), 3, -0, 0], truth [0, -2, 2, 3, 0, -1]: 5/6.
    close(acc7(&preds, &truth), 5.0 / 6.0, "acc7");
    let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.5]);
    assert!(r > 0.99 && r < 1.0);
    close(
        pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]),
        -1.0,
        "anti-correlated",
    );
    let outputs: Vec<f32> = preds.iter().map(|v| *v as f32).collect();
    let m = compute_metrics(
        &TaskKind::Regression,
        &["acc7".into(), "mae".into()],
        &outputs,
        &[6, 1],
        &truth,
        &[6],
    )
    .unwrap();
    close(m[0].1, 5.0 / 6.0, "acc7 via compute_metrics");
    assert!((m[1].1 - 3.2 / 6.0).abs() < 1e-6);
}

#[test]
fn mult_f1_weights_by_predicted_counts() {
    // preds > 0: [1, 1, 0, 0]; truth > 0: [1, 0, 0, 0]. Class 1 F1 = 2/3, class 0 F1 = 4/5.
    let (preds, truth) = ([0.5, 0.2, -1.0, -0.3], [1.0, -1.0, -2.0, -0.5]);
    let b = binary_sentiment(&preds, &truth, true);
    // Weighted by true counts (3 negatives, 1 positive) and by predicted counts (2 and 2).
    close(b.f1, (3.0 * 0.8 + 2.0 / 3.0) / 4.0, "f1");
    close(b.f1_mult, (0.8 + 2.0 / 3.0) / 2.0, "f1 as MulT computes it");
}
