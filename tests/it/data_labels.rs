//! Class labels that are names (issue 14): CSV/TSV columns and NumPy string arrays, classes in sorted order or
//! as given, unknown labels, the names in the data report, the run report's confusion matrix, `predict`'s CSV,
//! and the check that `eval` finds the classes the run was trained with. Data: `tests/data/labels/`.

use std::path::PathBuf;

use fusec::api::{self, EvalRequest, PredictRequest, RunRequest, Silent};

use super::data_splits::load;
use super::support::temp_dir;

/// A data block over the labels folder with `fields` (one per line).
fn block(fields: &str) -> String {
    format!("data d {{\n  path = \".\"\n{fields}\n}}\n")
}

#[test]
fn names_are_read_from_csv_tsv_npy_and_npz_in_sorted_order() {
    let sources = [
        r#"csv(train = "train.csv", test = "test.csv", column = 6)"#,
        r#"csv(train = "train.tsv", test = "test.tsv", column = 6)"#,
        r#"npy(train = "y_train.npy", test = "y_test.npy")"#,
        r#"npz(train = "train.npz", test = "test.npz", key = "y")"#,
    ];
    for source in sources {
        let out = load(&block(&format!(
            "  field x: f32[6] = npy(train = \"x_train.npy\", test = \"x_test.npy\")\n  field digit: i64[] = {source}"
        )));
        assert!(
            out.contains("digit: 3 classes (one, two, zero)"),
            "{source}:\n{out}"
        );
        assert!(out.contains("test  [4, 4, 4]"), "{source}:\n{out}");
    }
}

#[test]
fn classes_as_given_and_unknown_labels() {
    let given = load(&block(
        r#"  field digit: i64[] = csv(train = "train.csv", test = "test.csv", column = 6, classes = ["zero", "one", "two"])"#,
    ));
    insta::assert_snapshot!("classes_as_given", given);
    let unknown = load(&block(
        r#"  field digit: i64[] = csv(train = "train.csv", test = "test.csv", column = 6, classes = ["zero", "one"])
  field y: i64[] = npy(train = "y_train.npy", test = "y_test.npy", classes = ["zero", "two"])"#,
    ));
    assert!(unknown.contains("fusec::data::class_unknown"), "{unknown}");
    insta::assert_snapshot!("unknown_labels", unknown);
}

#[test]
fn names_where_numbers_belong_are_errors_with_hints() {
    let out = load(&block(
        r#"  field a: i64[] = csv(train = "train.csv", test = "test.csv", column = 6, classes = 3)
  field b: f32[] = npy(train = "y_train.npy", test = "y_test.npy")
  field c: i64[] = npz(train = "train.npz", test = "test.npz", key = "y")
  field d: i64[] = npz(train = "train.npz", test = "test.npz", key = "digit")
  field e: f32[] = csv(train = "train.csv", test = "test.csv", column = 6)
  field f: i64[] = npy(train = "y_train.npy", test = "x_test.npy")"#,
    ));
    insta::assert_snapshot!("names_where_numbers_belong", out);
}

/// Trains `tests/data/labels/digits.fuse` into a fresh folder.
fn train_digits(name: &str) -> (PathBuf, fusec::run::RunReport) {
    let dir = temp_dir("labels", name);
    let req = RunRequest {
        file: PathBuf::from("tests/data/labels/digits.fuse"),
        overwrite: false,
        overrides: Vec::new(),
        run_dir: Some(dir.clone()),
        device: candle_core::Device::Cpu,
        progress: false,
        stop_after: None,
    };
    let result = api::run(&req, &mut Silent).unwrap_or_else(|e| panic!("{e:?}"));
    (dir, result.report.unwrap())
}

#[test]
fn a_run_names_its_classes_in_the_report_predictions_and_record() {
    let (dir, report) = train_digits("run");
    let shown = report.to_string();
    assert!(shown.contains("test confusion matrix"), "{shown}");
    insta::assert_snapshot!("named_run_report", shown);
    assert_eq!(
        report.to_json()["classes"],
        serde_json::json!(["one", "two", "zero"])
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        record["class_names"]["digit"],
        serde_json::json!(["one", "two", "zero"])
    );

    let predict = PredictRequest {
        file: PathBuf::from("tests/data/labels/digits.fuse"),
        overrides: Vec::new(),
        run_dir: dir.clone(),
        input: PathBuf::from("tests/data/labels/test.safetensors"),
        device: candle_core::Device::Cpu,
    };
    let p = api::predict(&predict, &mut Silent).unwrap_or_else(|e| panic!("{e:?}"));
    let csv = dir.join("pred.csv");
    api::write_predictions(&p, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let classes: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        text.lines().next().unwrap().split(',').next(),
        Some("logits.class")
    );
    assert!(
        classes.iter().all(|c| ["one", "two", "zero"].contains(c)),
        "{text}"
    );

    // Evaluation re-reads the data: the classes it finds must be the recorded ones.
    let eval = EvalRequest {
        file: PathBuf::from("tests/data/labels/digits.fuse"),
        overrides: Vec::new(),
        run_dir: dir.clone(),
        split: "test".into(),
        last: false,
        device: candle_core::Device::Cpu,
    };
    assert!(api::eval(&eval, &mut Silent).is_ok());
    let mut record = record;
    record["class_names"]["digit"] = serde_json::json!(["eins", "two", "zero"]);
    std::fs::write(dir.join("config.json"), record.to_string()).unwrap();
    let err = api::eval(&eval, &mut Silent).err().unwrap();
    let fusec::api::Error::User { diagnostics, .. } = err else {
        panic!("expected a user error, got {err:?}");
    };
    let d = diagnostics.iter().next().unwrap();
    assert_eq!(d.code, "fusec::run::classes");
    assert!(d.message.contains(
        "[one, two, zero] in the data now, but the run was trained with [eins, two, zero]"
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_inspect_gives_the_label_balance_of_every_format() {
    let mut out = String::new();
    for file in [
        "train.csv",
        "test.tsv",
        "y_train.npy",
        "test.npz",
        "train.safetensors",
    ] {
        let path = PathBuf::from("tests/data/labels").join(file);
        out.push_str(&fusec::data::inspect::inspect_file(&path).unwrap());
    }
    assert_eq!(out.matches("zero 12 (33.3%)").count(), 2, "{out}");
    insta::assert_snapshot!("inspect_label_balance", out);
}
