//! The fusion examples: every model file of examples/mfeat (three weak views) and examples/iemocap_shapes
//! checks cleanly and has a pinned summary (parameters, shapes, FLOPs); every mfeat model trains for two epochs
//! through the library with a deterministic, rounded result, and GAN-Fusion's two steps keep its losses finite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use fusec::cli::FsLoader;
use fusec::front::{compile, Compiled};
use fusec::run::{train, RunOptions, RunOutcome};
use fusec::summary::summarize;

const METHODS: [&str; 7] = [
    "concat",
    "concat_mlp",
    "tfn",
    "lmf",
    "mult",
    "autofusion",
    "ganfusion",
];

fn compiled(path: &str, sets: &[(&str, &str)]) -> Compiled {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    compile(&FsLoader, path, &sets, false)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)))
}

/// The summary table plus any warnings (the examples should have none).
fn summary_of(path: &str) -> String {
    let c = compiled(path, &[]);
    let mut out = summarize(&c.program.models[0], &c.shapes[0], &HashMap::new()).render();
    if !c.warnings.is_empty() {
        out.push_str(&fusec::diag::render(&c.warnings, &c.program.sources, false));
    }
    out
}

#[test]
fn mfeat_summaries() {
    for m in METHODS {
        let path = format!("examples/mfeat/{m}.fuse");
        insta::assert_snapshot!(format!("mfeat_{m}"), summary_of(&path));
    }
}

#[test]
fn iemocap_shapes_summaries() {
    for m in METHODS {
        let path = format!("examples/iemocap_shapes/{m}.fuse");
        insta::assert_snapshot!(format!("iemocap_{m}"), summary_of(&path));
    }
}

#[test]
fn iemocap_shapes_fusion_blocks_have_the_paper_sizes() {
    // Per-block trainable counts of reference/results.md §7, read from the example models themselves.
    for (file, block, expect) in [
        ("autofusion", "fusion", 788_224),
        ("ganfusion", "fusion", 3_558_787),
        ("lmf", "fusion", 24_684),
    ] {
        let c = compiled(&format!("examples/iemocap_shapes/{file}.fuse"), &[]);
        let prefix = format!("{block}.");
        let n: i64 = c.shapes[0]
            .params
            .iter()
            .filter(|(name, p)| name.starts_with(&prefix) && p.trainable)
            .map(|(_, p)| p.shape.iter().product::<i64>())
            .sum();
        assert_eq!(n, expect, "{file}");
    }
    let mult = compiled("examples/iemocap_shapes/mult.fuse", &[]);
    assert_eq!(mult.shapes[0].n_trainable(), 1_074_998);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fusec-fusion-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(c: &Compiled, dir: &Path) -> RunOutcome {
    let plan = c.program.train.clone().unwrap();
    let index = c
        .program
        .models
        .iter()
        .position(|m| m.name == plan.model)
        .unwrap();
    let spec = c.program.data_spec(&plan.data).unwrap();
    let data = fusec::data::load(spec, Path::new(".")).unwrap();
    let opts = RunOptions {
        run_dir: dir.to_path_buf(),
        resume: false,
        device: Device::Cpu,
        progress: false,
        stop_after: None,
        config: serde_json::json!({}),
    };
    train(
        &c.program.models[index],
        &c.shapes[index],
        &plan,
        &data,
        &opts,
        &mut |_| {},
    )
    .unwrap()
}

/// The per-epoch history and the test metrics, rounded to 3 decimals.
fn rounded(outcome: &RunOutcome) -> String {
    let report = outcome.report.as_ref().unwrap();
    let history = std::fs::read_to_string(Path::new(&report.run_dir).join("metrics.csv")).unwrap();
    let mut s = String::new();
    for line in history.lines() {
        let cells: Vec<String> = line
            .split(',')
            .map(|c| match (c.parse::<i64>(), c.parse::<f64>()) {
                (Ok(_), _) | (_, Err(_)) => c.to_string(),
                (_, Ok(v)) => format!("{v:.3}"),
            })
            .collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s.push_str(&format!(
        "best epoch {} of {}, {} parameters\n",
        report.best_epoch, report.epochs_run, report.params
    ));
    for (k, v) in &report.test {
        s.push_str(&format!("test {k} = {v:.3}\n"));
    }
    s
}

fn short_run(method: &str) -> String {
    let c = compiled(&format!("examples/mfeat/{method}.fuse"), &[("epochs", "2")]);
    let outcome = run(&c, &temp_dir(method));
    assert!(
        outcome.grad_problems.is_empty(),
        "{method}: {:?}",
        outcome.grad_problems
    );
    let report = outcome.report.as_ref().unwrap();
    for (k, v) in report.test.iter().chain(&report.valid) {
        assert!(v.is_finite(), "{method}: {k} = {v}");
    }
    rounded(&outcome)
}

#[test]
fn mfeat_concat_short_run() {
    insta::assert_snapshot!(short_run("concat"));
}

#[test]
fn mfeat_concat_mlp_short_run() {
    insta::assert_snapshot!(short_run("concat_mlp"));
}

#[test]
fn mfeat_tfn_short_run() {
    insta::assert_snapshot!(short_run("tfn"));
}

#[test]
fn mfeat_lmf_short_run() {
    insta::assert_snapshot!(short_run("lmf"));
}

#[test]
fn mfeat_mult_short_run() {
    insta::assert_snapshot!(short_run("mult"));
}

#[test]
fn mfeat_autofusion_short_run() {
    insta::assert_snapshot!(short_run("autofusion"));
}

#[test]
fn mfeat_ganfusion_short_run() {
    insta::assert_snapshot!(short_run("ganfusion"));
}
