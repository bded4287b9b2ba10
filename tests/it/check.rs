//! Checker tests: .fuse text in; the typed IR dump (or the rendered diagnostics) out. Also: every stdlib and
//! example file checks clean, and the pass pipeline keeps the IR valid after every pass.

use std::fmt::Write;

use fusec::diag::render;
use fusec::front::{compile, compile_source, Compiled};
use fusec::ir::print::print_model;
use fusec::ir::verify::verify;
use fusec::source::Loader;

/// Reads files relative to the crate root.
pub struct RootLoader;

impl Loader for RootLoader {
    fn load(&self, path: &str) -> Result<String, String> {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
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
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_stdlib_and_example_file_checks_clean() {
    let files: Vec<String> = files_in("stdlib").into_iter().chain(files_in("examples")).collect();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        for optimize in [false, true] {
            match compile(&RootLoader, &f, &[], optimize) {
                Ok(c) => {
                    let errs: Vec<_> = c.warnings.iter().map(|d| (d.code, d.message.clone())).collect();
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
    assert!(codes(src).contains(&"fusec::unused::input"), "{:?}", codes(src));
}
