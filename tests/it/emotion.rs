//! The paper's emotion and sentiment data as users hold them: the IEMOCAP and MOSI examples trained for one
//! epoch from the MulT-format samples, pickle-source diagnostics (wrong key, missing file, wrong shape, wrong
//! label reading), per-emotion metrics, the 4-way formulation, and the robustness table.

use super::support::{assert_threads_pinned, compile_file, plan_model_index, temp_dir};
use std::path::{Path, PathBuf};

use candle_core::Device;
use fusec::data;
use fusec::diag::render;
use fusec::front::{compile_source, Compiled};
use fusec::run::{self, Objectives, RunOptions};

/// Loads the plan's data (checked against the model), or the rendered diagnostics.
fn load(c: &Compiled) -> Result<data::Dataset, String> {
    let plan = c.program.train.as_ref().unwrap();
    let spec = c.program.data_spec(&plan.data).unwrap();
    let model = c
        .program
        .models
        .iter()
        .find(|m| m.name == plan.model)
        .unwrap();
    let problems = data::check_against_model(spec, model);
    if problems.has_errors() {
        return Err(render(&problems, &c.program.sources, false));
    }
    data::load(spec, Path::new(".")).map_err(|d| render(&d, &c.program.sources, false))
}

/// Trains the compiled plan in a temporary run directory; the data report and the test metrics rounded to
/// two decimals, as a snapshot.
pub fn train_summary(c: &Compiled, name: &str) -> String {
    let plan = c.program.train.as_ref().unwrap();
    let index = plan_model_index(c);
    let data = load(c).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        run_dir: temp_dir("emotion", name),
        resume: false,
        overwrite: false,
        device: Device::Cpu,
        progress: false,
        stop_after: None,
        config: serde_json::json!({}),
        sources: Vec::new(),
    };
    assert_threads_pinned();
    let outcome = run::train(
        &c.program.models[index],
        &c.shapes[index],
        plan,
        &data,
        &opts,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report = outcome.report.unwrap();
    let mut out = format!(
        "model {}  params {}  epochs {}  selection {}\n{}",
        report.model, report.params, report.epochs_run, report.selection, data.report
    );
    for (k, v) in &report.test {
        out.push_str(&format!("test.{k} {v:.2}\n"));
    }
    let _ = std::fs::remove_dir_all(&opts.run_dir);
    out
}

/// One epoch of the example at `path` (`train_summary`).
pub fn example_summary(path: &str) -> String {
    let c = compile_file(path, &[("epochs", "1")], true);
    let name = path.replace(['/', '.'], "_");
    train_summary(&c, &name)
}

#[test]
fn iemocap_concat_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/concat.fuse"));
}

#[test]
fn iemocap_autofusion_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/autofusion.fuse"));
}

#[test]
fn mosi_concat_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/concat.fuse"));
}

#[test]
fn mosi_autofusion_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/autofusion.fuse"));
}

/// A program reading the IEMOCAP sample with `FIELDS` as its data fields; the model only averages `text`.
fn iemocap_program(fields: &str, extra_train: &str) -> String {
    format!(
        r#"model M {{
  input text: f32[B, T, 300]
  input labels: i64[B, 4]
  head = linear(mean(text, axis = 1), 8)
  output logits = reshape(head, [B, 4, 2])
  loss task = cross_entropy(logits, labels)
}}

data iemocap {{
  path = "tests/data/formats"
{fields}
  split = files()
}}

train {{
  task = binary_per_label(logits, labels)
  step main minimize task
  epochs = 1
{extra_train}
}}
"#
    )
}

const LABELS: &str = r#"  field labels: i64[4] = mult_pickle("iemocap_data.pkl", key = "labels", labels = "emotions")"#;

fn data_error(fields: &str) -> String {
    let text = iemocap_program(fields, "");
    let c = compile_source("emotion.fuse", &text, &[], true)
        .unwrap_or_else(|f| panic!("{}", render(&f.diagnostics, &f.sources, false)));
    load(&c).expect_err("loading should fail")
}

#[test]
fn wrong_key_names_the_key_path() {
    let fields = format!(
        "  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\", key = \"txt\")\n{LABELS}"
    );
    insta::assert_snapshot!(data_error(&fields));
}

#[test]
fn missing_pickle_file() {
    let fields = format!(
        "  field text: f32[20, 300] = mult_pickle(\"iemocap.pkl\", key = \"text\")\n{LABELS}"
    );
    insta::assert_snapshot!(data_error(&fields));
}

#[test]
fn unexpected_shape_names_split_and_key() {
    let fields = format!(
        "  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\", key = \"audio\")\n{LABELS}"
    );
    insta::assert_snapshot!(data_error(&fields));
}

#[test]
fn sentiment_reading_of_emotion_labels() {
    let fields =
        "  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n  field labels: i64[4] = \
                  mult_pickle(\"iemocap_data.pkl\", labels = \"sentiment\")";
    insta::assert_snapshot!(data_error(fields));
}

#[test]
fn unknown_label_reading_is_a_lowering_error() {
    let fields =
        "  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n  field labels: i64[4] = \
                  mult_pickle(\"iemocap_data.pkl\", labels = \"emotion\")";
    let text = iemocap_program(fields, "");
    let f = compile_source("emotion.fuse", &text, &[], true)
        .err()
        .unwrap();
    insta::assert_snapshot!(render(&f.diagnostics, &f.sources, false));
}

#[test]
fn pickle_splits_and_values() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let c = compile_source("emotion.fuse", &iemocap_program(&fields, ""), &[], true).unwrap();
    let d = load(&c).unwrap();
    assert_eq!((d.train.len(), d.valid.len(), d.test.len()), (24, 8, 8));
    assert_eq!(
        d.label_names["labels"],
        ["neutral", "happy", "sad", "angry"]
    );
    let data::FieldValues::I64(labels) = &d.fields["labels"].values else {
        panic!("labels are integers")
    };
    // argmax of each (absent, present) pair, read with NumPy from the sample.
    assert_eq!(labels[19 * 4..20 * 4], [1, 0, 1, 1]);
    assert_eq!(labels[3 * 4..4 * 4], [1, 0, 0, 0]);
    let data::FieldValues::F32(text) = &d.fields["text"].values else {
        panic!("text is float")
    };
    for (got, want) in text[..3].iter().zip([1.2367204f32, 0.2607106, -0.38360497]) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert!(labels.iter().all(|v| *v == 0 || *v == 1));
}

#[test]
fn per_emotion_metrics_by_name() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let program = iemocap_program(&fields, "  metrics = [acc, happy.acc, angry.f1_weighted]");
    let c = compile_source("emotion.fuse", &program, &[], true).unwrap();
    insta::assert_snapshot!(train_summary(&c, "per_emotion"));
}

#[test]
fn unknown_metric_for_the_task() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let program = iemocap_program(&fields, "  metrics = [binary_accuracy]");
    let f = compile_source("emotion.fuse", &program, &[], true)
        .err()
        .unwrap();
    insta::assert_snapshot!(render(&f.diagnostics, &f.sources, false));
}

#[test]
fn four_way_formulation() {
    let program = r#"model M {
  input text: f32[B, T, 300]
  input audio: f32[B, T, 74]
  input emotion: i64[B]
  output logits = linear(concat([mean(text, axis = 1), mean(audio, axis = 1)]), 4)
  loss task = cross_entropy(logits, emotion)
}

data iemocap {
  path = "tests/data/formats"
  field text: f32[20, 300] = mult_pickle("iemocap_data.pkl")
  field audio: f32[20, 74] = mult_pickle("iemocap_data.pkl")
  field emotion: i64[] = mult_pickle("iemocap_data.pkl", key = "labels", labels = "argmax", classes = 4)
  split = files()
}

train {
  task = classification(logits, emotion)
  step main minimize task
  epochs = 1
}
"#;
    let c = compile_source("four_way.fuse", program, &[], true).unwrap();
    insta::assert_snapshot!(train_summary(&c, "four_way"));
}

#[test]
fn robustness_table_on_a_tiny_model() {
    let program = r#"model Tiny {
  input text: f32[B, T, 300]
  input audio: f32[B, T, 74]
  input label: f32[B]
  h = linear(concat([mean(text, axis = 1), mean(audio, axis = 1)]), 1)
  output pred = select(h, axis = 1, index = 0)
  loss task = l1(pred, label)
}

data mosi {
  path = "tests/data/formats"
  field text: f32[20, 300] = mult_pickle("mosi_data.pkl")
  field audio: f32[20, 74] = mult_pickle("mosi_data.pkl")
  field label: f32[] = mult_pickle("mosi_data.pkl", key = "labels", labels = "sentiment")
  split = files()
}

train {
  task = regression(pred, label)
  step main minimize task
  epochs = 2
  robustness = [drop([text, audio], "zero"), drop(audio, "mean"), noise(text, [0.5, 2.0])]
}
"#;
    let c = compile_source("tiny.fuse", program, &[], true).unwrap();
    let plan = c.program.train.as_ref().unwrap();
    let model = &c.program.models[0];
    let mut data = load(&c).unwrap();
    let opts = RunOptions {
        run_dir: temp_dir("emotion", "robustness"),
        resume: false,
        overwrite: false,
        device: Device::Cpu,
        progress: false,
        stop_after: None,
        config: serde_json::json!({}),
        sources: Vec::new(),
    };
    assert_threads_pinned();
    let outcome = run::train(model, &c.shapes[0], plan, &data, &opts, &mut |_| {}).unwrap();
    let objectives = Objectives::resolve(plan, model).unwrap();
    let cases = run::robustness_cases(plan, model);
    let table = run::robustness(
        &outcome.net,
        &mut data,
        "test",
        plan,
        &objectives,
        &cases,
        0,
    )
    .unwrap();
    let again = run::robustness(
        &outcome.net,
        &mut data,
        "test",
        plan,
        &objectives,
        &cases,
        0,
    )
    .unwrap();
    // Noise is seeded and the data set is restored after each case: the same table twice.
    assert_eq!(table.to_csv(), again.to_csv());
    let shown = ["mae".to_string(), "corr".to_string()];
    insta::assert_snapshot!(table.render(&shown));
    let _ = std::fs::remove_dir_all(&opts.run_dir);
}

#[test]
fn robustness_clause_errors() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let program = iemocap_program(
        &fields,
        "  robustness = [drop(txt, \"zero\"), drop(text, \"median\"), noise(text, [0.5, -1.0]), noise(labels, 0.1)]",
    );
    let f = compile_source("emotion.fuse", &program, &[], true)
        .err()
        .unwrap();
    insta::assert_snapshot!(render(&f.diagnostics, &f.sources, false));
}

#[test]
fn default_robustness_cases_cover_every_float_input() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let c = compile_source("emotion.fuse", &iemocap_program(&fields, ""), &[], true).unwrap();
    let plan = c.program.train.as_ref().unwrap();
    let cases = run::robustness_cases(plan, &c.program.models[0]);
    let shown: Vec<String> = cases.iter().map(|(f, p)| format!("{f} {p:?}")).collect();
    assert_eq!(
        shown,
        [
            "text Zero",
            "text Mean",
            "text Noise { std: 0.1 }",
            "text Noise { std: 0.5 }",
            "text Noise { std: 1.0 }"
        ]
    );
}

#[test]
fn lmf_release_reads_with_merged_emotion_labels() {
    let program = r#"model M {
  input covarep: f32[B, 74]
  input facet: f32[B, 35]
  input glove: f32[B, T, 300]
  input labels: i64[B, 4]
  h = linear(concat([covarep, facet, mean(glove, axis = 1)]), 8)
  output logits = reshape(h, [B, 4, 2])
  loss task = cross_entropy(logits, labels)
}

data iemocap {
  path = "tests/data/formats"
  field covarep: f32[74] = lmf_pickle("iemocap_lmf.pkl")
  field facet: f32[35] = lmf_pickle("iemocap_lmf.pkl")
  field glove: f32[20, 300] = lmf_pickle("iemocap_lmf.pkl")
  field labels: i64[4] = lmf_pickle("iemocap_lmf.pkl", labels = "emotions", classes = 2)
  split = files()
  standardize = [covarep, facet]
}

train {
  task = binary_per_label(logits, labels)
  step main minimize task
  epochs = 1
}
"#;
    let c = compile_source("lmf.fuse", program, &[], true).unwrap();
    let d = load(&c).unwrap();
    assert_eq!(
        d.label_names["labels"],
        ["neutral", "happy", "sad", "angry"]
    );
    insta::assert_snapshot!(d.report.to_string());
}

/// `api::run` then `api::eval_robustness` (what `fusec run` and `fusec eval --robustness` call): the CSV lands in
/// the run directory with the baseline and one row per case of the plan (3 zeroed, 3 mean-imputed, 9 noised).
#[test]
fn eval_robustness_writes_the_csv() {
    use fusec::api::{self, EvalRequest, RunRequest, Silent};
    let dir = temp_dir("emotion", "cli");
    let file = PathBuf::from("examples/mosi/concat.fuse");
    let req = RunRequest {
        file: file.clone(),
        overwrite: false,
        overrides: vec![("epochs".into(), "1".into())],
        run_dir: Some(dir.clone()),
        device: candle_core::Device::Cpu,
        progress: false,
        stop_after: None,
    };
    let result = api::run(&req, &mut Silent).unwrap();
    assert_eq!(result.run_dir, dir);
    assert!(result.report.is_some());
    let eval = EvalRequest {
        file,
        overrides: Vec::new(),
        run_dir: dir.clone(),
        split: "valid".into(),
        last: false,
        device: candle_core::Device::Cpu,
    };
    let r = api::eval_robustness(&eval, &mut Silent).unwrap();
    assert_eq!(r.csv, dir.join("robustness_valid.csv"));
    assert_eq!(r.shown_metrics(&["mae".into()]).unwrap(), ["mae"]);
    assert!(r.shown_metrics(&["mea".into()]).is_err());
    let csv = std::fs::read_to_string(dir.join("robustness_valid.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 1 + 15);
    assert!(rows[0].starts_with("input,perturbation,level,loss,loss.task,mae,corr,acc2"));
    assert!(rows[1].starts_with("none,none,,"));
    assert!(rows[2].starts_with("text,zero,,"));
    assert!(rows[16].starts_with("vision,noise,1,"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--set data.path=...` points the example at another folder (here the samples by absolute path, then a folder
/// without the pickle, which is one diagnostic for the file, not one per field).
#[test]
fn set_data_path_points_at_the_users_folder() {
    let folder = std::fs::canonicalize("tests/data/formats").unwrap();
    let folder = folder.to_string_lossy().to_string();
    let c = compile_file(
        "examples/iemocap/concat.fuse",
        &[("data.path", folder.as_str())],
        true,
    );
    let d = load(&c).unwrap();
    assert_eq!(d.n_examples(), 40);
    let empty = temp_dir("emotion", "empty-data");
    let empty = empty.to_string_lossy().to_string();
    let c = compile_file(
        "examples/iemocap/concat.fuse",
        &[("data.path", empty.as_str())],
        true,
    );
    let err = load(&c).err().unwrap();
    assert_eq!(err.matches("fusec::data::missing_file").count(), 1, "{err}");
    assert!(err.contains("iemocap_data.pkl"), "{err}");
}

#[test]
fn iemocap_concat_4way_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/concat_4way.fuse"));
}

#[test]
fn iemocap_tfn_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/tfn.fuse"));
}

#[test]
fn iemocap_lmf_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/lmf.fuse"));
}

#[test]
fn iemocap_mult_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/mult.fuse"));
}

#[test]
fn iemocap_ganfusion_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/ganfusion.fuse"));
}

#[test]
fn mosi_tfn_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/tfn.fuse"));
}

#[test]
fn mosi_lmf_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/lmf.fuse"));
}

#[test]
fn mosi_mult_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/mult.fuse"));
}

#[test]
fn mosi_ganfusion_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/ganfusion.fuse"));
}

/// A pickle cut short (an incomplete download) is one diagnostic labelled at the first field reading it.
#[test]
fn truncated_pickle_through_the_data_block() {
    let dir = temp_dir("emotion", "truncated");
    let bytes = std::fs::read("tests/data/formats/iemocap_data.pkl").unwrap();
    std::fs::write(dir.join("iemocap_data.pkl"), &bytes[..bytes.len() / 2]).unwrap();
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let text = iemocap_program(&fields, "");
    let path = dir.to_string_lossy().to_string();
    let c = compile_source(
        "emotion.fuse",
        &text,
        &[("data.path".to_string(), path.clone())],
        true,
    )
    .unwrap();
    // Not a snapshot: the rendering wraps at a width that depends on the temporary folder's name.
    let err = load(&c).err().unwrap();
    assert_eq!(
        err.matches("fusec::data::pickle::truncated").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("fusec::").count(), 1, "{err}");
    assert!(err.contains("field `text` reads it here"), "{err}");
    assert!(err.contains("incomplete download"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn select_a_per_emotion_metric() {
    let fields =
        format!("  field text: f32[20, 300] = mult_pickle(\"iemocap_data.pkl\")\n{LABELS}");
    let program = iemocap_program(&fields, "  select = valid.happy.f1_weighted");
    let c = compile_source("emotion.fuse", &program, &[], true).unwrap();
    let select = &c.program.train.as_ref().unwrap().select;
    assert_eq!(
        (select.split.as_str(), select.metric.as_str()),
        ("valid", "happy.f1_weighted")
    );
    assert!(select.maximize);
    let summary = train_summary(&c, "select_happy");
    assert!(
        summary.contains("selection valid.happy.f1_weighted"),
        "{summary}"
    );
}

#[test]
fn iemocap_concat_mlp_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/iemocap/concat_mlp.fuse"));
}

#[test]
fn mosi_concat_mlp_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/mosi/concat_mlp.fuse"));
}
