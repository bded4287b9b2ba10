//! The binary end to end: `run` writes a complete run directory, `eval` reproduces the report's test metrics
//! from the selected checkpoint, `predict` writes one row per example, and user mistakes exit with code 1.

use super::support::{fusec, temp_dir};
use std::path::Path;

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn run_eval_predict() {
    let dir = temp_dir("cli", "run");
    let run_dir = dir.join("run");
    let rd = run_dir.to_str().unwrap();
    let (code, stdout, stderr) = fusec(&[
        "run",
        "examples/mfeat/autofusion.fuse",
        "--epochs",
        "2",
        "--out",
        rd,
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("accuracy"), "{stdout}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "metrics.csv",
        "report.json",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/optimizer.safetensors",
        "checkpoints/last/state.json",
    ] {
        assert!(run_dir.join(f).exists(), "{f} is missing");
    }
    let rep = report(&run_dir);
    for key in [
        "model",
        "seed",
        "epochs_run",
        "best_epoch",
        "params",
        "train_seconds",
        "valid",
        "test",
    ] {
        assert!(rep.get(key).is_some(), "report.json lacks {key}");
    }
    assert_eq!(
        std::fs::read_to_string(run_dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );

    let (code, stdout, stderr) = fusec(&[
        "--message-format",
        "json",
        "eval",
        "examples/mfeat/autofusion.fuse",
        "--checkpoint",
        rd,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let eval: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        eval["metrics"]["accuracy"], rep["test"]["accuracy"],
        "eval reproduces the report"
    );

    let input = dir.join("new.safetensors");
    let dev = candle_core::Device::Cpu;
    let t = |d: usize| candle_core::Tensor::zeros((5, d), candle_core::DType::F32, &dev).unwrap();
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = [
        ("fou".to_string(), t(76)),
        ("zer".to_string(), t(47)),
        ("mor".to_string(), t(6)),
    ]
    .into();
    candle_core::safetensors::save(&tensors, &input).unwrap();
    let output = dir.join("pred.csv");
    let (code, _, stderr) = fusec(&[
        "predict",
        "examples/mfeat/autofusion.fuse",
        "--checkpoint",
        rd,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(&output).unwrap();
    assert_eq!(csv.lines().count(), 6, "a header and one row per example");
    assert!(csv.starts_with("logits.class,logits.0,"), "{csv}");
}

#[test]
fn user_mistakes_exit_with_one() {
    let (code, _, stderr) = fusec(&[
        "run",
        "examples/mfeat/autofusion.fuse",
        "--set",
        "epoch=3",
        "-q",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("epochs"),
        "a did-you-mean for the key: {stderr}"
    );
    let (code, _, stderr) = fusec(&[
        "run",
        "examples/mfeat/autofusion.fuse",
        "--device",
        "tpu",
        "-q",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown device"), "{stderr}");
    let (code, _, stderr) = fusec(&[
        "eval",
        "examples/mfeat/autofusion.fuse",
        "--checkpoint",
        "no/such/run",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a complete run directory"), "{stderr}");
}

#[test]
fn check_grad_names_a_parameter_without_gradient() {
    let dir = temp_dir("cli", "grad");
    let data = std::fs::canonicalize("data/mfeat").unwrap();
    let src = format!(
        r#"model Cut {{
  input x: f32[B, 6]
  input y: i64[B]
  enc = linear(x, 8)
  output logits = linear(stop_gradient(relu(enc)), 10)
  loss task = cross_entropy(logits, y)
}}
data d {{
  path = "{}"
  field x: f32[6] = csv("mfeat-mor.csv", columns = 0..6)
  field y: i64[] = csv("mfeat-mor.csv", column = 6, classes = 10)
}}
train {{
  task = classification(logits, y)
  optimizer main = adam(lr = 1e-3)
  step main minimize task
}}
"#,
        data.display()
    );
    let file = dir.join("cut.fuse");
    std::fs::write(&file, src).unwrap();
    let (code, _, stderr) = fusec(&["check", "--grad", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("fusec::grad::flow"), "{stderr}");
    assert!(
        stderr.contains("parameter `enc.weight` receives no gradient from any step"),
        "{stderr}"
    );
    let (code, stdout, stderr) = fusec(&["check", "--grad", "examples/mfeat/autofusion.fuse"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("gradient flow ok"), "{stdout}");
}

#[test]
fn bench_prints_ratios() {
    let (code, stdout, stderr) = fusec(&[
        "bench",
        "--mlp-steps",
        "3",
        "--lstm-steps",
        "1",
        "--rounds",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ratio")
            && stdout.contains("MLP 409-128-64-4")
            && stdout.contains("BiLSTM"),
        "{stdout}"
    );
}

#[test]
fn graph_and_summary_take_a_mode() {
    let (code, out, err) = fusec(&[
        "graph",
        "examples/mfeat/ganfusion.fuse",
        "--mode",
        "predict",
        "--format",
        "dot",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("digraph \"Mfeat3GanFusion (predict)\""),
        "{out}"
    );
    assert!(
        !out.contains("fusion.d.") && !out.contains("noise"),
        "{out}"
    );
    let (code, out, err) = fusec(&["summary", "examples/iemocap/lmf.fuse", "--mode", "eval"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Model: IemocapLmf (mode eval)\nFLOPs at T = 20"),
        "{out}"
    );
    let (code, _, err) = fusec(&[
        "graph",
        "examples/mfeat/ganfusion.fuse",
        "--mode",
        "train:3",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("fusec::cli::mode") && err.contains("`disc`, `main`"),
        "{err}"
    );
}
