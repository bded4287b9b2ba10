//! Parser tests: .fuse text in, a stable AST dump (or the rendered syntax error) out.

use fusec::diag::render;
use fusec::source::SourceMap;
use fusec::syntax::{dump::dump, parse};

/// Parses `src` and returns the AST dump, or the rendered diagnostics.
pub fn check(src: &str) -> String {
    let mut sources = SourceMap::default();
    let file = sources.add("test.fuse", src, false);
    match parse(file, src) {
        Ok(ast) => dump(&ast),
        Err(diags) => render(&diags, &sources, false),
    }
}

#[test]
fn language_tour_parses() {
    let src = r#"
import std.encoders.{Mlp}
import std.fusion.AutoFusion
import "lib/other.fuse".{Thing, Other}

block Pair(a: f32[B, D], b: f32[B, D], scale: float = 0.5, sizes: [int] = [1, 2]) -> (z: f32[B, D], l: f32[]) {
  s = a + scale * b
  for i in 0..len(sizes) {
    s = relu(linear(s, sizes[i]))
  }
  if scale > 0.1 and not false { s = s * 2 } else { s = -s }
  return (z = s, l = mse(a, b))
}

model M {
  input x: f32[B, 76]
  param latent: int = 64
  d = shared Disc(hidden = 256)
  ys = [linear(x, k) for k in [8, 16]]
  output logits = linear(x, 10) |> reshape(B, 5, 2)
  loss task = cross_entropy(logits, label)
}

data mfeat {
  path = "../data"
  field fou: f32[76] = csv("mfeat-fou.csv", columns = 0..76)
  split = stratified(label, train = 0.6, valid = 0.2, test = 0.2, seed = 0)
}

train {
  model = M
  optimizer main = adam(lr = 1e-3)
  step main minimize task + 0.5 * recon using main
  minimize task
  select = valid.accuracy
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn misspelled_keyword_gets_did_you_mean() {
    insta::assert_snapshot!(check("blok Foo(x: f32[B]) -> f32[B] {\n  return x\n}\n"));
}

#[test]
fn missing_bracket_says_what_was_expected() {
    insta::assert_snapshot!(check("model M {\n  input x: f32[B, 3\n  output y = x\n}\n"));
}

#[test]
fn misspelled_statement_keyword() {
    insta::assert_snapshot!(check("model M {\n  inptu x: f32[B, 3]\n}\n"));
}

#[test]
fn precedence_and_pipes() {
    insta::assert_snapshot!(check(
        "model M {\n  y = -a * b + c @ d - e / 2 % 3\n  z = x |> f |> g(1, k = 2)\n  w = a.b[0].c(1)\n}\n"
    ));
}

#[test]
fn comparison_in_keyword_argument_is_not_an_assignment() {
    insta::assert_snapshot!(check("model M {\n  y = f(a == 1, b = c <= 2)\n}\n"));
}

#[test]
fn deep_nesting_and_long_chains_are_limited() {
    let deep = format!(
        "model M {{\n  y = {}x{}\n}}\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    assert!(
        check(&deep).contains("fusec::limit::nesting"),
        "{}",
        check(&deep)
    );
    let long = format!("model M {{\n  y = x{}\n}}\n", " + x".repeat(100_000));
    assert!(
        check(&long).contains("fusec::limit::nesting"),
        "{}",
        check(&long)
    );
    let negs = format!("model M {{\n  y = {}x\n}}\n", "-".repeat(100_000));
    assert!(check(&negs).contains("fusec::limit::nesting"));
    let ok = format!("model M {{\n  y = x{}\n}}\n", " + x".repeat(100));
    assert!(!check(&ok).contains("fusec::limit"), "{}", check(&ok));
}

#[test]
fn one_syntax_error_per_broken_item() {
    insta::assert_snapshot!(check(
        "block F(x: f32[B, D] -> f32[B, D] {\n  return x\n}\n\nmodel M {\n  input x: f32[B, 4]\n  y = relu(x))\n}\n\nmodel N {\n  input x: f32[B, 4]\n  output y = relu(x)\n}\n"
    ));
}
