//! Checker tests: .fuse text in; the typed IR dump (or the rendered diagnostics) out. Also: every stdlib and
//! example file checks clean, and the pass pipeline keeps the IR valid after every pass.

use std::fmt::Write;

use fusec::diag::render;
use fusec::front::{compile, compile_source, Compiled};
use fusec::ir::print::print_model;
use fusec::ir::verify::verify;
use fusec::source::Loader;

use super::support::fusec;

/// Reads files relative to the crate root.
pub struct RootLoader;

impl Loader for RootLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        // The message names the path as given, so snapshots do not depend on where the repository lives.
        std::fs::read_to_string(&full).map_err(|e| format!("{path}: {e}"))
    }
}

/// The typed dump of every model plus rendered warnings, or the rendered errors.
pub fn check(src: &str) -> String {
    render_result(compile_source("main.fuse", src, &[], false))
}

/// Like [`check`], after the pass pipeline.
pub fn check_optimized(src: &str) -> String {
    render_result(compile_source("main.fuse", src, &[], true))
}

pub fn render_result(r: Result<Compiled, fusec::front::Failed>) -> String {
    match r {
        Ok(c) => {
            let mut out = String::new();
            for (m, s) in c.program.models.iter().zip(&c.shapes) {
                let _ = write!(out, "{}", print_model(m, Some(s)));
            }
            if !c.warnings.is_empty() {
                out.push_str(&render(&c.warnings, &c.program.sources, false));
            }
            out
        }
        Err(f) => render(&f.diagnostics, &f.sources, false),
    }
}

/// The codes of the errors a program gets (empty when it compiles).
pub fn codes(src: &str) -> Vec<&'static str> {
    match compile_source("main.fuse", src, &[], false) {
        Ok(c) => c.warnings.iter().map(|d| d.code).collect(),
        Err(f) => f.diagnostics.iter().map(|d| d.code).collect(),
    }
}

fn files_in(dir: &str) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "fuse") {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_stdlib_and_example_file_checks_clean() {
    let files: Vec<String> = files_in("stdlib")
        .into_iter()
        .chain(files_in("examples"))
        .collect();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        for optimize in [false, true] {
            match compile(&RootLoader, &f, &[], optimize) {
                Ok(c) => {
                    let errs: Vec<_> = c
                        .warnings
                        .iter()
                        .map(|d| (d.code, d.message.clone()))
                        .collect();
                    assert!(errs.is_empty(), "{f}: {errs:?}");
                    for m in &c.program.models {
                        assert_eq!(verify(m), Ok(()), "{f}: model {}", m.name);
                    }
                }
                Err(e) => panic!("{f}:\n{}", render(&e.diagnostics, &e.sources, false)),
            }
        }
    }
}

#[test]
fn passes_keep_the_ir_valid_after_each_pass() {
    for f in files_in("examples") {
        let mut c = compile(&RootLoader, &f, &[], false).unwrap();
        for (m, s) in c.program.models.iter_mut().zip(&c.shapes) {
            fusec::passes::optimize(m, s, &mut |name, m| {
                assert_eq!(verify(m), Ok(()), "{f} after {name}");
            });
        }
    }
}

#[test]
fn autofusion_example_typed_dump() {
    let c = compile(&RootLoader, "examples/mfeat/autofusion.fuse", &[], false).unwrap();
    insta::assert_snapshot!(print_model(&c.program.models[0], Some(&c.shapes[0])));
}

#[test]
fn block_port_symbols_bind_per_call() {
    let src = r#"
block Proj(x: f32[B, D], out: int) -> f32[B, out] {
  h = linear(x, D)
  return linear(h + x, out)
}
model M {
  input a: f32[B, 76]
  input b: f32[B, 6]
  output y = Proj(a, out = 8) + Proj(b, out = 8)
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn gan_fusion_checks_with_shared_discriminator() {
    let src = r#"
import std.fusion.AutoFusion
block Disc(z: f32[B, L], hidden: int = 4) -> f32[B, 1] {
  l1 = linear(z, hidden)
  h = leaky_relu(batch_norm(l1), slope = 0.2)
  return linear(h, 1)
}
model Gan {
  input a: f32[B, 8]
  input v: f32[B, 8]
  input y: i64[B]
  af = AutoFusion([a], dim = 8)
  g = linear(noise(v, 0.01), 8)
  d = shared Disc(hidden = 4)
  real = d(stop_gradient(af.z))
  fake = d(g)
  loss d_loss = bce_with_logits(real, 1.0) + bce_with_logits(fake, 0.0)
  output logits = linear(concat([af.z, g]), 3)
  loss task = cross_entropy(logits, y)
}
"#;
    let out = check(src);
    // One set of discriminator weights (l1, its batch norm, the last linear), applied twice.
    assert_eq!(out.matches("(shares d.").count(), 6, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn sequence_ops_infer_their_shapes() {
    let src = r#"
model Seq {
  input text: f32[B, T, 300]
  input lens: i64[B]
  input audio: f32[B, U, 74]
  enc = lstm(text, hidden = 16, lengths = lens, bidirectional = true)
  last = last_valid(enc.seq, lens)
  pa = conv1d(audio, 32, kernel = 1)
  cross = transformer_layer(enc.seq, kv = pa, heads = 4)
  att = attention(pa, heads = 2)
  pooled = mean(cross, axis = 1)
  output logits = linear(concat([last, enc.h, pooled, max(att, axis = 1)]), 8) |> reshape(B, 4, 2)
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn optimized_graph_drops_dead_and_identity_nodes() {
    let src = r#"
model M {
  input x: f32[B, 4]
  input y: f32[B, 4]
  unused = linear(y, 3)
  h = dropout(x, 0.0) * (2.0 * 0.5)
  output out = linear(h, 2)
}
"#;
    insta::assert_snapshot!(check_optimized(src));
}

#[test]
fn unused_inputs_warn() {
    let src = r#"
model M {
  input x: f32[B, 4]
  input extra: f32[B, 4]
  output out = linear(x, 2)
}
"#;
    assert!(
        codes(src).contains(&"fusec::unused::input"),
        "{:?}",
        codes(src)
    );
}

#[test]
fn cli_check_prints_ok_lines_and_exit_codes() {
    let (code, out, _) = fusec(&[
        "check",
        "examples/mfeat/autofusion.fuse",
        "examples/mfeat/concat.fuse",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("ok examples/mfeat/autofusion.fuse: model Mfeat3AutoFusion, 4 inputs, 85,098 parameters"), "{out}");
    let (code, _, err) = fusec(&[
        "check",
        "tests/invalid/shape_add_fixed_widths.fuse",
        "examples/mfeat/concat.fuse",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("fusec::shape::mismatch"), "{err}");
    let (code, _, _) = fusec(&["check"]);
    assert_eq!(code, 1);
}

#[test]
fn cli_json_diagnostics_are_one_object_per_line() {
    let (code, out, _) = fusec(&[
        "--message-format",
        "json",
        "check",
        "tests/invalid/shape_errors_all_reported.fuse",
    ]);
    assert_eq!(code, 1);
    let codes: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        codes.contains(&"fusec::shape::mismatch".to_string())
            && codes.contains(&"fusec::shape::axis".to_string()),
        "{codes:?}"
    );
}

#[test]
fn cli_graph_dot_renders_and_text_matches_the_dump() {
    let (code, dot, _) = fusec(&["graph", "examples/mfeat/autofusion.fuse", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(
        dot.starts_with("digraph \"Mfeat3AutoFusion\" {") && dot.contains("subgraph cluster_3 {"),
        "{dot}"
    );
    // Graphviz is optional on a developer machine; where it is installed the DOT must render.
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
    let (code, text, _) = fusec(&[
        "graph",
        "examples/mfeat/concat.fuse",
        "--optimized",
        "--set",
        "epochs=1",
    ]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with("model Mfeat3Concat\n  %0 = input name=fou : f32[B, 76]"),
        "{text}"
    );
    let (code, _, err) = fusec(&[
        "graph",
        "examples/mfeat/concat.fuse",
        "--model",
        "Mfeat3Concta",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `Mfeat3Concat`?"), "{err}");
}

#[test]
fn cli_summary_prints_the_table() {
    let (code, out, _) = fusec(&["summary", "examples/mfeat/autofusion.fuse", "--dim", "T=5"]);
    assert_eq!(code, 0);
    assert!(out.contains("Trainable params: 85,098"), "{out}");
}

/// TFN, LMF and MulT written in the language check clean, with the shapes the papers give.
#[test]
fn baselines_check_with_expected_shapes() {
    let src = r#"
block Tfn(zs: f32[B, _]...) -> f32[B, _] {
  acc = pad(zs[0], before = 1, value = 1.0)
  for i in 1..len(zs) {
    acc = outer(acc, pad(zs[i], before = 1, value = 1.0))
  }
  return acc
}

block Lmf(zs: f32[B, _]..., out: int, rank: int = 4) -> f32[B, out] {
  prod = none
  for i in 0..len(zs) {
    factor = param([rank, dim(zs[i], -1) + 1, out], init = "xavier_normal")
    f = pad(zs[i], before = 1, value = 1.0) @ factor
    if i == 0 { prod = f } else { prod = prod * f }
  }
  weights = param([1, rank], init = "xavier_normal")
  bias = param([1, out], init = "zeros")
  fused = weights @ transpose(prod, 0, 1)
  return reshape(fused, B, out) + bias
}

block CrossStack(x: f32[B, T, D], src: f32[B, S, D], layers: int = 2, heads: int = 2) -> f32[B, T, D] {
  h = x + positions(x)
  kv = src + positions(src)
  for i in 0..layers {
    layer = transformer_layer(h, kv = kv, heads = heads, dropout = 0.1)
    h = layer
  }
  return layer_norm(h)
}

model M {
  input a: f32[B, 4]
  input v: f32[B, 5]
  input l: f32[B, T, 6]
  input s: f32[B, U, 4]
  output tfn = Tfn([a, v])
  output lmf = Lmf([a, v], out = 2, rank = 3)
  pl = conv1d(l, 8, kernel = 1, bias = false)
  ps = conv1d(s, 8, kernel = 1, bias = false)
  la = CrossStack(pl, ps)
  output mult = select(la, axis = 1, index = -1)
}
"#;
    let c = compile_source("main.fuse", src, &[], false)
        .unwrap_or_else(|f| panic!("{}", render(&f.diagnostics, &f.sources, false)));
    let (m, s) = (&c.program.models[0], &c.shapes[0]);
    let ty = |name: &str| s.ty(m.output_value(name).unwrap()).unwrap().to_string();
    assert_eq!(ty("tfn"), "f32[B, 30]");
    assert_eq!(ty("lmf"), "f32[B, 2]");
    assert_eq!(ty("mult"), "f32[B, 8]");
    // LMF: factors [3, 5, 2] and [3, 6, 2], weights [1, 3], bias [1, 2]; the two conv1d projections without
    // bias; per transformer layer (d 8, ff 32): two layer norms, fused in/out projections, fc1, fc2; a final norm.
    let lmf = 30 + 36 + 3 + 2;
    let convs = 8 * 6 + 8 * 4;
    let layer = 2 * 16 + (3 * 8 * 8 + 3 * 8 + 8 * 8 + 8) + (32 * 8 + 32) + (8 * 32 + 8);
    assert_eq!(s.n_trainable(), lmf + convs + 2 * layer + 16);
}

#[test]
fn unused_named_block_outputs_warn() {
    let src = r#"
block Two(x: f32[B, D]) -> (a: f32[B, 4], b: f32[B, 2]) {
  return (a = linear(x, 4), b = linear(x, 2))
}
model M {
  input x: f32[B, 8]
  t = Two(x)
  output y = t.a
}
"#;
    insta::assert_snapshot!(check(src));
}
