//! End-to-end training: a small model trains on mfeat for a few epochs with a deterministic, rounded summary;
//! the same seed gives the same numbers bit for bit; a resumed run equals an uninterrupted one; the
//! gradient-flow check names a parameter cut off by stop_gradient; a non-finite loss stops the run.

use super::support::{compile_file, rounded_summary, temp_dir, train_into};
use std::path::Path;

use fusec::front::compile_source;
use fusec::run::{GradIssue, RunError};

#[test]
fn mfeat_autofusion_trains_deterministically() {
    let c = compile_file("examples/mfeat/autofusion.fuse", &[("epochs", "3")], true);
    let a = train_into(&c, &temp_dir("train", "det-a"), false, None).unwrap();
    let b = train_into(&c, &temp_dir("train", "det-b"), false, None).unwrap();
    let (ra, rb) = (a.report.as_ref().unwrap(), b.report.as_ref().unwrap());
    assert_eq!(ra.test, rb.test, "same seed, same numbers, bit for bit");
    assert_eq!(ra.valid, rb.valid);
    assert!(a.grad_problems.is_empty(), "{:?}", a.grad_problems);
    insta::assert_snapshot!(rounded_summary(&a));
}

#[test]
fn a_different_seed_gives_different_numbers() {
    let a = train_into(
        &compile_file("examples/mfeat/autofusion.fuse", &[("epochs", "1")], true),
        &temp_dir("train", "seed-a"),
        false,
        None,
    )
    .unwrap();
    let b = train_into(
        &compile_file(
            "examples/mfeat/autofusion.fuse",
            &[("epochs", "1"), ("seed", "5")],
            true,
        ),
        &temp_dir("train", "seed-b"),
        false,
        None,
    )
    .unwrap();
    assert_ne!(a.report.unwrap().valid, b.report.unwrap().valid);
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let c = compile_file("examples/mfeat/autofusion.fuse", &[("epochs", "4")], true);
    let full = train_into(&c, &temp_dir("train", "full"), false, None).unwrap();
    let dir = temp_dir("train", "resumed");
    let first = train_into(&c, &dir, false, Some(2)).unwrap();
    assert!(first.report.is_none(), "stop_after interrupts the run");
    let resumed = train_into(&c, &dir, true, None).unwrap();
    let (f, r) = (full.report.unwrap(), resumed.report.unwrap());
    assert_eq!(f.valid, r.valid);
    assert_eq!(f.test, r.test);
    assert_eq!(f.best_epoch, r.best_epoch);
    let metrics = |d: &str| std::fs::read_to_string(Path::new(d).join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics(&f.run_dir),
        metrics(&r.run_dir),
        "the same history epoch by epoch"
    );
    for (name, var) in &full.net.params {
        let other = resumed.net.params.get(name).unwrap();
        let diff = var
            .as_tensor()
            .sub(other.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(
            diff.to_scalar::<f32>().unwrap(),
            0.0,
            "{name} differs after resume"
        );
    }
}

const DETACHED: &str = r#"
model Detached {
  input x: f32[B, 6]
  input y: i64[B]
  enc = linear(x, 8)
  frozen = stop_gradient(relu(enc))
  output logits = linear(frozen, 10)
  loss task = cross_entropy(logits, y)
}
"#;

#[test]
fn gradient_flow_check_names_a_detached_layer() {
    let c = compile_source("detached.fuse", DETACHED, &[], true)
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let plan_src = format!(
        "{DETACHED}\ndata d {{\n  path = \"../../data/mfeat\"\n  field x: f32[6] = csv(\"mfeat-mor.csv\", columns = 0..6)\n  field y: i64[] = csv(\"mfeat-mor.csv\", column = 6, classes = 10)\n}}\ntrain {{\n  task = classification(logits, y)\n  optimizer main = adam(lr = 1e-3)\n  step main minimize task\n  epochs = 1\n}}\n"
    );
    drop(c);
    let dir = temp_dir("train", "detached");
    let file = dir.join("detached.fuse");
    std::fs::write(
        &file,
        plan_src.replace(
            "../../data/mfeat",
            &std::fs::canonicalize("data/mfeat")
                .unwrap()
                .to_string_lossy(),
        ),
    )
    .unwrap();
    let c = compile_file(file.to_str().unwrap(), &[], true);
    let out = train_into(&c, &dir.join("run"), false, None).unwrap();
    let names: Vec<(&str, &GradIssue)> = out
        .grad_problems
        .iter()
        .map(|p| (p.param.as_str(), &p.issue))
        .collect();
    assert_eq!(
        names,
        vec![
            ("enc.bias", &GradIssue::NoGradient),
            ("enc.weight", &GradIssue::NoGradient)
        ]
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_with_a_report() {
    let c = compile_file(
        "examples/mfeat/autofusion.fuse",
        &[("epochs", "1"), ("optimizer.main.lr", "1e30")],
        true,
    );
    match train_into(&c, &temp_dir("train", "nan"), false, None) {
        Err(e @ RunError::NonFinite { .. }) => {
            let RunError::NonFinite { step, epoch, .. } = &e else {
                unreachable!()
            };
            assert_eq!((step.as_str(), *epoch), ("main", 1));
            assert_eq!(
                fusec::api::run_diagnostic(&e).code,
                "fusec::run::non_finite"
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a learning rate of 1e30 must blow up"),
    }
}
