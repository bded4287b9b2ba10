//! Rendered diagnostics of the checker, shown with their source: the best regression test for messages.

use fusec::diag::render_json;
use fusec::front::compile_source;

use super::check::{check, codes};

#[test]
fn fixed_width_mismatch_in_elementwise_add() {
    let src = r#"
model M {
  input a: f32[B, 8]
  input b: f32[B, 4]
  output y = a + b
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn symbolic_dims_are_rigid() {
    let src = r#"
model M {
  input a: f32[B, 8]
  input b: f32[T, 8]
  output y = concat([a, b])
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn port_type_mismatch_points_at_value_and_call_site() {
    let src = r#"
block Head(x: f32[B, 64], classes: int) -> f32[B, classes] {
  return linear(x, classes)
}
model M {
  input a: f32[B, 32]
  output y = Head(a, classes = 3)
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn error_inside_a_stdlib_block_labels_the_call_site() {
    let src = r#"
import std.fusion.AutoFusion
model M {
  input a: f32[B, T, 8]
  input b: f32[B, 4]
  f = AutoFusion([a, b], dim = 4)
  output y = f.z
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn all_errors_at_once_without_cascades() {
    let src = r#"
model M {
  input a: f32[B, 8]
  input labels: f32[B]
  h = linear(a, 4) @ linear(a, 3)
  z = relu(h) |> linear(2)
  m = mean(a, axis = 2)
  output y = linear(a, 5)
  loss task = cross_entropy(y, labels)
}
"#;
    let out = check(src);
    let errors: Vec<_> = codes(src)
        .into_iter()
        .filter(|c| !c.starts_with("fusec::unused"))
        .collect();
    assert_eq!(
        errors,
        vec![
            "fusec::shape::mismatch",
            "fusec::shape::axis",
            "fusec::dtype::mismatch"
        ],
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn task_shapes_are_checked_against_the_task_kind() {
    let src = r#"
model M {
  input x: f32[B, 4]
  input label: i64[B]
  output logits = linear(x, 3) |> reshape(B, 3, 1)
  loss task = mse(logits, logits)
}
data d {
  path = "."
  field x: f32[4] = npy("x.npy")
  field label: i64[] = npy("y.npy", classes = 3)
  split = random(train = 0.6, valid = 0.2, test = 0.2, seed = 0)
}
train {
  model = M
  data = d
  task = classification(logits, label)
  optimizer main = adam(lr = 1e-3)
  step main minimize task
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn json_lines_carry_code_file_and_position() {
    let src = "model M {\n  input a: f32[B, 8]\n  output y = a + linear(a, 3)\n}\n";
    let f = compile_source("main.fuse", src, &[], false).unwrap_err();
    let json = render_json(&f.diagnostics, &f.sources);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["code"], "fusec::shape::mismatch");
    assert_eq!(v["labels"][0]["file"], "main.fuse");
    assert_eq!(v["labels"][0]["line"], 3);
}

#[test]
fn error_in_a_nested_block_labels_inner_and_outer_call_sites() {
    let src = r#"
block Inner(x: f32[B, D]) -> f32[B, D] {
  return mean(x, axis = 2)
}
block Outer(x: f32[B, D]) -> f32[B, D] {
  return Inner(x)
}
model M {
  input a: f32[B, 8]
  output y = Outer(a)
}
"#;
    insta::assert_snapshot!(check(src));
}
