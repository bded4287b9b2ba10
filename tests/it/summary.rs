//! Summary tables: parameters, output shapes and FLOPs per example, computed from the checked IR.

use std::collections::HashMap;

use fusec::front::{compile, compile_source};
use fusec::summary::summarize;

use super::check::RootLoader;

fn summary(src: &str) -> String {
    let c = compile_source("main.fuse", src, &[], false)
        .unwrap_or_else(|f| panic!("{}", fusec::diag::render(&f.diagnostics, &f.sources, false)));
    summarize(&c.program.models[0], &c.shapes[0], &HashMap::new()).render()
}

#[test]
fn autofusion_example_summary() {
    let c = compile(&RootLoader, "examples/mfeat/autofusion.fuse", &[], false).unwrap();
    let s = summarize(&c.program.models[0], &c.shapes[0], &HashMap::new());
    // Mlp 76-128-64, 47-128-64, 6-32-64; AutoFusion k = 192: 192-96-64-96-192; head 64-10.
    let expect = (76 * 128 + 128 + 128 * 64 + 64)
        + (47 * 128 + 128 + 128 * 64 + 64)
        + (6 * 32 + 32 + 32 * 64 + 64)
        + (192 * 96 + 96 + 96 * 64 + 64 + 64 * 96 + 96 + 96 * 192 + 192)
        + (64 * 10 + 10);
    assert_eq!(s.trainable, expect);
    assert_eq!(s.trainable, c.shapes[0].n_trainable());
    insta::assert_snapshot!(s.render());
}

#[test]
fn batch_norm_buffers_and_recurrent_flops() {
    let src = r#"
model M {
  input x: f32[B, T, 8]
  enc = gru(x, hidden = 4)
  h = batch_norm(enc.h)
  output y = linear(h, 2)
}
"#;
    insta::assert_snapshot!(summary(src));
}

#[test]
fn shared_layers_are_counted_once() {
    let src = r#"
model M {
  input a: f32[B, 8]
  input b: f32[B, 8]
  p = shared linear(out = 4)
  output y = p(a) + p(b)
}
"#;
    let out = summary(src);
    assert!(out.contains("Trainable params: 36\n"), "{out}");
}
