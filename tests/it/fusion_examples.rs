//! The fusion examples: every model file of examples/mfeat (three weak views) and examples/iemocap_shapes
//! checks cleanly and has a pinned summary (parameters, shapes, FLOPs); every mfeat model trains for two epochs
//! through the library with a deterministic, rounded result, and GAN-Fusion's two steps keep its losses finite.

use super::support::{compile_file, rounded_summary, temp_dir, train_into};
use std::collections::HashMap;

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

/// The summary table plus any warnings (the examples should have none).
fn summary_of(path: &str) -> String {
    let c = compile_file(path, &[], false);
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
    // Per-block trainable counts of docs/COMPARING.md §3, read from the example models themselves.
    for (file, block, expect) in [
        ("autofusion", "fusion", 788_224),
        ("ganfusion", "fusion", 3_558_787),
        ("lmf", "fusion", 24_684),
    ] {
        let c = compile_file(&format!("examples/iemocap_shapes/{file}.fuse"), &[], false);
        let prefix = format!("{block}.");
        let n: i64 = c.shapes[0]
            .params()
            .iter()
            .filter(|(name, p)| name.starts_with(&prefix) && p.trainable)
            .map(|(_, p)| p.shape.iter().product::<i64>())
            .sum();
        assert_eq!(n, expect, "{file}");
    }
    let mult = compile_file("examples/iemocap_shapes/mult.fuse", &[], false);
    assert_eq!(mult.shapes[0].n_trainable(), 1_074_998);
}

fn short_run(method: &str) -> String {
    short_run_compiled(method, false)
}

fn short_run_compiled(method: &str, optimize: bool) -> String {
    let c = compile_file(
        &format!("examples/mfeat/{method}.fuse"),
        &[("epochs", "2")],
        optimize,
    );
    let dir = temp_dir("fusion", &format!("{method}_{optimize}"));
    let outcome = train_into(&c, &dir, false, None).unwrap();
    assert!(
        outcome.grad_problems.is_empty(),
        "{method}: {:?}",
        outcome.grad_problems
    );
    let report = outcome.report.as_ref().unwrap();
    for (k, v) in report.test.iter().chain(&report.valid) {
        assert!(v.is_finite(), "{method}: {k} = {v}");
    }
    rounded_summary(&outcome)
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
    assert_kernel_dependent_snapshot("mfeat_ganfusion_short_run", short_run("ganfusion"));
}

/// GAN-Fusion's adversarial losses amplify the last-bit differences between the GEMM crate's AVX-512 kernels
/// and its AVX2 ones (another blocking of the same sums) into the printed digits, so its training snapshot is
/// kept per kernel family: `…@avx512.snap` on CPUs with AVX-512, the plain one elsewhere. Every other model
/// prints the same numbers with either.
fn assert_kernel_dependent_snapshot(name: &str, value: String) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        insta::with_settings!({ snapshot_suffix => "avx512" }, {
            insta::assert_snapshot!(name, value);
        });
        return;
    }
    insta::assert_snapshot!(name, value);
}

/// The pass pipeline merges 40 nodes of MulT (equal constants, and the embeddings every cross-modal transformer
/// scales and adds positions to) and 7 of GAN-Fusion (constants), and training and evaluation numbers stay
/// exactly those of the unoptimized graph: the same snapshots.
#[test]
fn the_pass_pipeline_leaves_mult_and_ganfusion_training_unchanged() {
    for (method, merged) in [("mult", 40), ("ganfusion", 7)] {
        let path = format!("examples/mfeat/{method}.fuse");
        let n = |optimize| {
            compile_file(&path, &[], optimize).program.models[0]
                .graph
                .n_nodes()
        };
        assert_eq!(n(false) - n(true), merged, "{method}");
        let name = format!("mfeat_{method}_short_run");
        let run = short_run_compiled(method, true);
        if method == "ganfusion" {
            assert_kernel_dependent_snapshot(&name, run);
        } else {
            insta::assert_snapshot!(name, run);
        }
    }
}
