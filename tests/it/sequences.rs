//! Sequence encoders and unaligned sequences: `std.encoders.ConvEncoder` (shapes, parameter names and counts,
//! its assertions), the conv example on mfeat's pixel rows, and the examples for MulT's unaligned IEMOCAP,
//! MOSI and MOSEI releases (each modality with its own length), trained for one epoch on the samples in
//! data/mult-unaligned/.

use super::check::check;
use super::emotion::{example_summary, train_summary};
use super::support::{compile_file, rounded_summary, temp_dir, train_into};

const CONV_MODEL: &str = r#"
import std.encoders.ConvEncoder
model M {
  input a: f32[B, A, 7]
  input v: f32[B, 12, 3]
  za = ConvEncoder(a, channels = [4, 6], kernel = 3, out = 5)
  zv = ConvEncoder(v, channels = [2], kernel = 4, stride = 2, norm = "layer", pool = "max")
  output z = concat([za, zv])
}
"#;

#[test]
fn conv_encoder_typed_dump() {
    // A symbolic length stays a symbol through odd kernels at stride 1; a fixed one takes any stride
    // ((12 + 2·2 - 4) / 2 + 1 = 7 steps). The conv steps, norms and pooling are visible per layer.
    insta::assert_snapshot!(check(CONV_MODEL));
}

#[test]
fn conv_encoder_parameter_count() {
    let c = fusec::front::compile_source("main.fuse", CONV_MODEL, &[], false).unwrap();
    // za: conv 4·7·3 + 4, batch norm 2·4, conv 6·4·3 + 6, batch norm 2·6, projection 6·5 + 5;
    // zv: conv 2·3·4 + 2, layer norm 2·2.
    let za = (84 + 4) + 8 + (72 + 6) + 12 + (30 + 5);
    let zv = (24 + 2) + 4;
    assert_eq!(c.shapes[0].n_trainable(), za + zv);
}

#[test]
fn conv_encoder_refuses_an_unknown_pooling() {
    let src = r#"
import std.encoders.ConvEncoder
model M {
  input a: f32[B, T, 7]
  output z = ConvEncoder(a, pool = "avg")
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn conv_encoder_stride_on_a_symbolic_length_is_a_located_error() {
    // The checker names no length for a strided window over a symbolic dim: the error points into the stdlib
    // block and at the call site.
    let src = r#"
import std.encoders.ConvEncoder
model M {
  input a: f32[B, A, 7]
  output z = ConvEncoder(a, kernel = 9, stride = 2)
}
"#;
    insta::assert_snapshot!(check(src));
}

#[test]
fn mfeat_conv_rows_one_epoch() {
    let c = compile_file("examples/mfeat/conv_rows.fuse", &[("epochs", "1")], true);
    let dir = temp_dir("sequences", "mfeat_conv_rows");
    let outcome = train_into(&c, &dir, false, None).unwrap();
    insta::assert_snapshot!(rounded_summary(&outcome));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One epoch of a MulT example with one crossmodal layer per pair (`h.layers=1`; the memories keep their
/// three): attention over 400-500 steps is the slow part, and the example's wiring is what is tested.
fn mult_summary(path: &str) -> String {
    let c = compile_file(path, &[("epochs", "1"), ("h.layers", "1")], true);
    train_summary(&c, &path.replace(['/', '.'], "_"))
}

#[test]
fn iemocap_unaligned_mult_one_epoch() {
    insta::assert_snapshot!(mult_summary("examples/unaligned/iemocap_mult.fuse"));
}

#[test]
fn iemocap_unaligned_conv_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/unaligned/iemocap_conv.fuse"));
}

#[test]
fn mosi_unaligned_mult_one_epoch() {
    insta::assert_snapshot!(mult_summary("examples/unaligned/mosi_mult.fuse"));
}

#[test]
fn mosei_unaligned_mult_one_epoch() {
    insta::assert_snapshot!(mult_summary("examples/unaligned/mosei_mult.fuse"));
}

#[test]
fn mosi_unaligned_conv_one_epoch() {
    insta::assert_snapshot!(example_summary("examples/unaligned/mosi_conv.fuse"));
}

const CONV_PARITY: &str = r#"
import std.encoders.ConvEncoder
model M {
  input x: f32[B, 9, 4]
  za = ConvEncoder(x, channels = [5, 6], kernel = 3, stride = 2, out = 2)
  zb = ConvEncoder(x, channels = [3], kernel = 2, norm = "layer", pool = "max")
  output a = za
  output b = zb
}
"#;

#[test]
fn conv_encoder_matches_the_pytorch_fixture() {
    use crate::fusion_util::{build, check_all_grads, forward, inputs, load, named, vjp_term};
    let fx = crate::nn_util::Fixture::load("conv_encoder");
    let net = build(CONV_PARITY);
    // The fixture names tensors by the block's parameter paths.
    let mut vars = load(&net, &fx, |n| n.to_string());
    let ins = inputs(&[("x", "x", fx.get("x"))], &mut vars);
    let outs = forward(&net, &ins);
    let (za, zb) = (named(&net, &outs, "a"), named(&net, &outs, "b"));
    fx.check("za", &za);
    fx.check("zb", &zb);
    for stat in fx.names_with_prefix("za.bn.") {
        if let Some(param) = stat.strip_suffix(".after") {
            fx.check(&stat, net.params[param].as_tensor());
        }
    }
    let scalar =
        (vjp_term(&za, &fx.get("upstream_a")) + vjp_term(&zb, &fx.get("upstream_b"))).unwrap();
    check_all_grads(&fx, "grad.", &scalar, &vars);
    fx.assert_all_checked();
}
