//! k-fold cross-validation (issue 14): `split = kfold(...)` as `.fuse` text in, and out the rendered diagnostics,
//! the folds of the data report, and the k-fold run's report (every fold trained into its own run directory,
//! resumable, with mean ± std). The training runs use two small views of `data/mfeat` for 2 epochs on 3 folds.

use std::path::{Path, PathBuf};

use candle_core::Device;
use fusec::api::{self, Reporter, ResumeRequest, RunRequest};
use fusec::diag::{render, Diagnostics};
use fusec::run::KFoldReport;
use fusec::source::SourceMap;

use crate::data_splits::load;
use crate::support::{assert_threads_pinned, temp_dir};

/// The data report of every data set in `text`, or its rendered diagnostics (data in `tests/data/labels/`).
fn diagnostics(cases: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (what, text) in cases {
        out.push_str(&format!("=== {what}\n{}\n", load(text)));
    }
    out
}

#[test]
fn kfold_mistakes_are_located_errors() {
    let out = diagnostics(&[
        (
            "k below 2 and a bad valid fraction, both reported",
            r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  split = kfold(k = 1, valid = 1.5)
}"#,
        ),
        (
            "an unknown parameter",
            r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = kfold(k = 3, stratfy = digit)
}"#,
        ),
        (
            "an unknown field to stratify by",
            r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = kfold(k = 3, stratify = digits)
}"#,
        ),
        (
            "more folds than the smallest class holds",
            r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = kfold(k = 20, stratify = digit)
}"#,
        ),
        (
            "per-split files",
            r#"data d {
  path = "."
  field x: f32[6] = csv(train = "train.csv", test = "test.csv", columns = 0..6)
  split = kfold(k = 3)
}"#,
        ),
        (
            "kfold and column",
            r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  split = kfold(k = 3)
  split = column("split.tsv", column = "split")
}"#,
        ),
    ]);
    for code in [
        "fusec::data::kfold",
        "fusec::param::unknown",
        "fusec::data::field",
        "fusec::data::files",
        "fusec::data::duplicate",
    ] {
        assert!(out.contains(code), "{code} missing:\n{out}");
    }
    insta::assert_snapshot!("kfold_diagnostics", out);
}

#[test]
fn the_data_report_names_the_fold_and_its_sizes() {
    let out = load(
        r#"data d {
  path = "."
  field x: f32[6] = csv("all.csv", columns = 1..7)
  field digit: i64[] = csv("all.csv", column = 7)
  split = kfold(k = 4, stratify = digit, seed = 3, valid = 0.25)
}"#,
    );
    // 48 examples, 16 of each of 3 digits: 12 in each fold; 36 left, a quarter of each class carved: 27 / 9.
    assert!(
        out.contains("48 examples (train 27, valid 9, test 12)"),
        "{out}"
    );
    assert!(
        out.contains("fold 1 of 4 (stratified by digit, seed 3)"),
        "{out}"
    );
    insta::assert_snapshot!("kfold_data_report", out);
}

#[test]
fn a_pickle_s_own_splits_are_concatenated_into_the_folds() {
    // MulT's MOSI sample holds 8 / 4 / 4 examples; k-fold deals all 16 (a sentiment score: not stratified).
    let out = load(
        r#"data mosi {
  path = "../../../data/mult-unaligned"
  field text: f32[50, 300] = mult_pickle("mosi_data_noalign.pkl", key = "text")
  field label: f32[] = mult_pickle("mosi_data_noalign.pkl", key = "labels", labels = "sentiment")
  split = kfold(k = 4, seed = 1, valid = 0.25)
}"#,
    );
    assert!(
        out.contains("16 examples (train 9, valid 3, test 4)"),
        "{out}"
    );
    assert!(
        out.contains("fold 1 of 4 (not stratified, seed 1)"),
        "{out}"
    );
}

/// Two small views of mfeat (zer 47, mor 6) on 3 stratified folds, 2 epochs.
fn kfold_file(dir: &Path) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mfeat");
    let text = format!(
        r#"import std.encoders.Mlp
import std.fusion.Concat

model Small {{
  input zer: f32[B, 47]
  input mor: f32[B, 6]
  input label: i64[B]
  fused = Concat([Mlp(zer, sizes = [32]), Mlp(mor, sizes = [16])])
  output logits = linear(fused, 10)
  loss task = cross_entropy(logits, label)
}}

data mfeat {{
  path = "{}"
  field zer: f32[47] = csv("mfeat-zer.csv", columns = 0..47)
  field mor: f32[6] = csv("mfeat-mor.csv", columns = 0..6)
  field label: i64[] = csv("mfeat-fou.csv", column = 76, classes = 10)
  split = kfold(k = 3, stratify = label, seed = 0)
  standardize = [zer, mor]
}}

train {{
  task = classification(logits, label)
  optimizer main = adam(lr = 3e-3)
  minimize task
  batch_size = 64
  epochs = 2
  seed = 0
  select = valid.accuracy
  metrics = [accuracy, f1_macro]
}}
"#,
        data.display()
    );
    let file = dir.join("small.fuse");
    std::fs::write(&file, text).unwrap();
    file
}

/// Keeps the log lines and warnings.
#[derive(Default)]
struct Lines(Vec<String>);

impl Reporter for Lines {
    fn diagnostics(&mut self, diags: &Diagnostics, sources: &SourceMap) {
        self.0.push(render(diags, sources, false));
    }
    fn log(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
}

/// Each fold's test metrics and their mean ± std, rounded to 3 decimals.
fn rounded(report: &KFoldReport) -> String {
    let mut s = String::new();
    for (name, values, mean, std) in report.test_summary() {
        let cells: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
        s.push_str(&format!(
            "test {name}: folds [{}], mean {mean:.3} ± {std:.3}\n",
            cells.join(", ")
        ));
    }
    for f in &report.folds {
        s.push_str(&format!(
            "fold {}: best epoch {} of {}\n",
            f.fold, f.best_epoch, f.epochs_run
        ));
    }
    s
}

fn request(file: &Path, dir: &Path, stop_after: Option<usize>) -> RunRequest {
    RunRequest {
        file: file.to_path_buf(),
        overrides: Vec::new(),
        run_dir: Some(dir.to_path_buf()),
        overwrite: false,
        device: Device::Cpu,
        progress: false,
        stop_after,
    }
}

#[test]
fn every_fold_trains_into_its_own_run_and_resumes() {
    assert_threads_pinned();
    let tmp = temp_dir("kfold", "run");
    let file = kfold_file(&tmp);
    let plan = api::kfold_plan(&file, &[]).expect("a k-fold file");
    assert_eq!((plan.k, plan.model.as_str()), (3, "Small"));
    let dir = tmp.join("run");
    let mut log = Lines::default();
    let result = api::run_folds(&request(&file, &dir, None), &plan, &mut log).unwrap();
    let report = result.report.unwrap();
    // The data report of every fold: the same sizes, another test fold.
    let sizes: Vec<&String> = log.0.iter().filter(|l| l.contains("examples (")).collect();
    assert_eq!(sizes.len(), 3, "{:?}", log.0);
    let mut out = String::new();
    for l in &log.0 {
        for line in l
            .lines()
            .filter(|x| x.contains("examples (") || x.contains("is the test split"))
        {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out.push_str(&rounded(&report));
    insta::assert_snapshot!("kfold_training_summary", out);

    // Every fold is a complete run directory; the parent holds the report and marks itself.
    for i in 1..=3 {
        let fold = dir.join(format!("fold-{i}"));
        for f in [
            "config.json",
            "sources.json",
            "report.json",
            "checkpoints/best",
        ] {
            assert!(fold.join(f).exists(), "{}/{f}", fold.display());
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["k"], 3);
    assert_eq!(json["folds"].as_array().unwrap().len(), 3);
    let mean = report.test_mean("accuracy").unwrap();
    assert!((json["test"]["accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(text.contains("sample standard deviation"), "{text}");
    assert!(api::is_kfold_dir(&dir));

    // `eval` works on a fold's directory and gives its reported test accuracy.
    let eval = api::eval(
        &api::EvalRequest {
            file: file.clone(),
            overrides: Vec::new(),
            run_dir: dir.join("fold-2"),
            split: "test".into(),
            last: false,
            device: Device::Cpu,
        },
        &mut api::Silent,
    )
    .unwrap();
    let acc = eval.iter().find(|(k, _)| k == "accuracy").unwrap().1;
    let reported = report.folds[1]
        .test
        .iter()
        .find(|(k, _)| k == "accuracy")
        .unwrap()
        .1;
    assert!((acc - reported).abs() < 1e-9, "{acc} vs {reported}");

    // The k-fold directory itself is no run: `eval` says which directories are.
    let parent = api::eval(
        &api::EvalRequest {
            file: file.clone(),
            overrides: Vec::new(),
            run_dir: dir.clone(),
            split: "test".into(),
            last: false,
            device: Device::Cpu,
        },
        &mut api::Silent,
    );
    let why: String = match parent {
        Ok(_) => String::new(),
        Err(e) => e
            .diagnostics()
            .0
            .iter()
            .map(|d| d.message.clone())
            .collect(),
    };
    assert!(why.contains("holds a k-fold run"), "{why}");

    // A second run into the same directory is refused.
    let again = api::run_folds(&request(&file, &dir, None), &plan, &mut api::Silent);
    let refused: String = match again {
        Ok(_) => String::new(),
        Err(e) => e
            .diagnostics()
            .0
            .iter()
            .map(|d| d.message.clone())
            .collect(),
    };
    assert!(refused.contains("already holds a run"), "{refused}");

    // Interrupted after the first epoch of fold 1, then resumed: the same report as the run in one go.
    let dir2 = tmp.join("resumed");
    let stopped = api::run_folds(&request(&file, &dir2, Some(1)), &plan, &mut api::Silent).unwrap();
    assert!(stopped.report.is_none());
    assert!(!dir2.join("fold-2").exists());
    let resume = ResumeRequest {
        run_dir: dir2.clone(),
        file: None,
        overrides: Vec::new(),
        device: Device::Cpu,
        progress: false,
        stop_after: None,
    };
    let resumed = api::resume_folds(&resume, &mut api::Silent).unwrap();
    assert_eq!(rounded(&resumed.report.unwrap()), rounded(&report));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_fold_override_outside_the_folds_is_an_error() {
    let tmp = temp_dir("kfold", "fold_override");
    let file = kfold_file(&tmp);
    let path = file.to_string_lossy().to_string();
    let failed = |sets: &[(&str, &str)]| {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match fusec::front::compile(&api::FsLoader, &path, &sets, false) {
            Ok(_) => String::new(),
            Err(f) => render(&f.diagnostics, &f.sources, false),
        }
    };
    let out = failed(&[("data.fold", "4")]);
    assert!(
        out.contains("fusec::data::kfold") && out.contains("has folds 1 to 3"),
        "{out}"
    );
    assert!(failed(&[("data.fold", "2")]).is_empty());
    // With a fold chosen, the file is an ordinary run of that fold.
    let sets = [("data.fold".to_string(), "2".to_string())];
    assert!(api::kfold_plan(&file, &sets).is_none());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn fusec_run_prints_the_folds_and_resumes_a_finished_run() {
    let tmp = temp_dir("kfold", "cli");
    let file = kfold_file(&tmp);
    let dir = tmp.join("run");
    let (file_s, dir_s) = (file.to_string_lossy(), dir.to_string_lossy());
    let (code, out, err) = crate::support::fusec(&["run", &file_s, "--out", &dir_s, "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("k-fold cross-validation of model Small: 3 folds"),
        "{out}"
    );
    assert!(
        out.contains("std: the sample standard deviation over the 3 folds"),
        "{out}"
    );
    let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(out.contains(&text), "{out}\n---\n{text}");
    // Resuming a finished k-fold run trains nothing and prints the same report.
    let (code, again, err) = crate::support::fusec(&["run", "--resume", &dir_s, "--quiet"]);
    assert_eq!(code, 0, "{again}\n{err}");
    assert!(again.contains(&text), "{again}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn compare_pairs_k_fold_models_by_fold() {
    assert_threads_pinned();
    let tmp = temp_dir("kfold", "compare");
    let a = kfold_file(&tmp);
    // The same model with a wider latent, in a file of its own.
    let wide = std::fs::read_to_string(&a)
        .unwrap()
        .replace("sizes = [32]", "sizes = [64]");
    let b = tmp.join("wide.fuse");
    std::fs::write(&b, wide).unwrap();
    let request = |files: Vec<PathBuf>| api::CompareRequest {
        files,
        seeds: vec![0],
        metric: None,
        out: tmp.join("compare"),
        overwrite: true,
        device: Device::Cpu,
        overrides: vec![("epochs".into(), "1".into())],
    };
    let c = api::compare(&request(vec![a.clone(), b.clone()]), &mut api::Silent).unwrap();
    assert_eq!(c.folds, Some(3));
    assert!(c.rows.iter().all(|r| r.values.len() == 3));
    assert!(tmp.join("compare/wide-seed0-fold3/report.json").is_file());
    let md = c.markdown();
    assert!(md.contains("| fold 1 | fold 2 | fold 3 |"), "{md}");
    let verdicts: String = md
        .lines()
        .skip_while(|l| !l.starts_with("Decision rule"))
        .map(|l| format!("{l}\n"))
        .collect();
    let values: Vec<String> = c
        .rows
        .iter()
        .map(|r| {
            let v: Vec<String> = r.values.iter().map(|x| format!("{x:.3}")).collect();
            format!("{}: {}", r.method, v.join(", "))
        })
        .collect();
    insta::assert_snapshot!(
        "kfold_compare",
        format!("{}\n{verdicts}", values.join("\n"))
    );

    // A k-fold file and one without folds cannot be paired.
    let plain = tmp.join("plain.fuse");
    let text = std::fs::read_to_string(&a)
        .unwrap()
        .replace("split = kfold(k = 3, stratify = label, seed = 0)", "");
    std::fs::write(&plain, text).unwrap();
    let mixed = api::compare(&request(vec![a, plain]), &mut api::Silent);
    let codes: Vec<&str> = match &mixed {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics().0.iter().map(|d| d.code).collect(),
    };
    assert_eq!(codes, ["fusec::data::kfold"]);
    let _ = std::fs::remove_dir_all(&tmp);
}
