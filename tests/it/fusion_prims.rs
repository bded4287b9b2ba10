//! Parity of the primitives the fusion library builds on, compiled from .fuse source: `lstm`, bidirectional
//! `lstm`, `gru` (with unsorted lengths and garbage beyond them) and MulT's crossmodal `transformer_layer`,
//! each loaded with a PyTorch fixture's weights and compared on outputs and gradients.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use crate::fusion_util::{build, forward, inputs, load, named, vjp_term};
use crate::nn_util::Fixture;

/// A recurrent model over the fixtures' `x [3, 5, 4]` with `lengths`.
fn recurrent_src(call: &str) -> String {
    format!(
        "model M {{\n  input x: f32[B, T, 4]\n  input lengths: i64[B]\n  rnn = {call}\n  output seq = rnn.seq\n  output h = rnn.h\n{}}}\n",
        if call.starts_with("lstm") { "  output c = rnn.c\n" } else { "" }
    )
}

fn recurrent_inputs(fx: &Fixture, vars: &mut HashMap<String, Var>) -> HashMap<String, Tensor> {
    inputs(
        &[("x", "x", fx.get("x")), ("lengths", "", fx.get("lengths"))],
        vars,
    )
}

#[test]
fn lstm_matches_the_fixture() {
    let fx = Fixture::load("lstm");
    let net = build(&recurrent_src("lstm(x, 3, lengths = lengths)"));
    let mut vars = load(&net, &fx, |n| format!("rnn.{n}_l0"));
    let outs = forward(&net, &recurrent_inputs(&fx, &mut vars));
    let (seq, h, c) = (
        named(&net, &outs, "seq"),
        named(&net, &outs, "h"),
        named(&net, &outs, "c"),
    );
    fx.check("output", &seq);
    fx.check("h_n", &h);
    fx.check("c_n", &c);
    let scalar = (vjp_term(&seq, &fx.get("upstream.output"))
        + vjp_term(&h, &fx.get("upstream.h_n"))
        + vjp_term(&c, &fx.get("upstream.c_n")))
    .unwrap();
    fx.check_grads("grad.", &scalar.backward().unwrap(), &vars);
    fx.assert_all_checked();
}

#[test]
fn bidirectional_lstm_matches_the_fixture() {
    let fx = Fixture::load("bilstm");
    let net = build(&recurrent_src(
        "lstm(x, 3, lengths = lengths, bidirectional = true)",
    ));
    let map = |n: &str| match n.split_once('.') {
        Some(("fwd", rest)) => format!("rnn.{rest}_l0"),
        Some(("bwd", rest)) => format!("rnn.{rest}_l0_reverse"),
        _ => n.to_string(),
    };
    let mut vars = load(&net, &fx, map);
    let outs = forward(&net, &recurrent_inputs(&fx, &mut vars));
    let (seq, h, c) = (
        named(&net, &outs, "seq"),
        named(&net, &outs, "h"),
        named(&net, &outs, "c"),
    );
    fx.check("output", &seq);
    fx.check("h_cat", &h);
    fx.check("c_cat", &c);
    fx.check("h_fwd", &h.narrow(1, 0, 3).unwrap());
    fx.check("h_bwd", &h.narrow(1, 3, 3).unwrap());
    fx.check("c_fwd", &c.narrow(1, 0, 3).unwrap());
    fx.check("c_bwd", &c.narrow(1, 3, 3).unwrap());
    let scalar = (vjp_term(&seq, &fx.get("upstream.output"))
        + vjp_term(&h, &fx.get("upstream.h_cat"))
        + vjp_term(&c, &fx.get("upstream.c_cat")))
    .unwrap();
    fx.check_grads("grad.", &scalar.backward().unwrap(), &vars);
    fx.assert_all_checked();
}

#[test]
fn gru_matches_the_fixture() {
    let fx = Fixture::load("gru");
    let net = build(&recurrent_src("gru(x, 3, lengths = lengths)"));
    let mut vars = load(&net, &fx, |n| format!("rnn.{n}_l0"));
    let outs = forward(&net, &recurrent_inputs(&fx, &mut vars));
    let (seq, h) = (named(&net, &outs, "seq"), named(&net, &outs, "h"));
    fx.check("output", &seq);
    fx.check("h_n", &h);
    let scalar = (vjp_term(&seq, &fx.get("upstream.output"))
        + vjp_term(&h, &fx.get("upstream.h_n")))
    .unwrap();
    fx.check_grads("grad.", &scalar.backward().unwrap(), &vars);
    fx.assert_all_checked();
}

/// Loads the crossmodal fixture's layer into `layer.*`: q, k, v are the row blocks of the packed
/// `in_proj_weight`. Returns fixture name -> tensor whose gradient is the fixture's (slices for q, k, v).
fn load_layer(fx: &Fixture, net: &crate::fusion_util::Network) -> Vec<(String, Var)> {
    let p = |s: &str| net.params[&format!("layer.{s}")].clone();
    let mut out = Vec::new();
    for (ours, theirs) in [
        ("ln0.weight", "ln0.weight"),
        ("ln0.bias", "ln0.bias"),
        ("ln1.weight", "ln1.weight"),
        ("ln1.bias", "ln1.bias"),
        ("attn.out_proj.weight", "attn.out.weight"),
        ("attn.out_proj.bias", "attn.out.bias"),
        ("fc1.weight", "fc1.weight"),
        ("fc1.bias", "fc1.bias"),
        ("fc2.weight", "fc2.weight"),
        ("fc2.bias", "fc2.bias"),
    ] {
        p(ours).set(&fx.get(theirs)).unwrap();
        out.push((theirs.to_string(), p(ours)));
    }
    for part in ["weight", "bias"] {
        let qkv: Vec<Tensor> = ["q", "k", "v"]
            .iter()
            .map(|x| fx.get(&format!("attn.{x}.{part}")))
            .collect();
        p(&format!("attn.in_proj_{part}"))
            .set(&Tensor::cat(&qkv, 0).unwrap())
            .unwrap();
    }
    let n_ours = net.params.len();
    assert_eq!(n_ours, 12, "unexpected parameters: {:?}", net.params.keys());
    out
}

/// Compares the gradients of `scalar` under `prefix` (`grad_cross.`): plain parameters and inputs directly,
/// q/k/v as row blocks of the packed projection's gradient.
fn check_layer_grads(
    fx: &Fixture,
    net: &crate::fusion_util::Network,
    prefix: &str,
    scalar: &Tensor,
    direct: &HashMap<String, Var>,
) {
    let grads = scalar.backward().unwrap();
    for name in fx.names_with_prefix(prefix) {
        let target = &name[prefix.len()..];
        let grad = if let Some(var) = direct.get(target) {
            grads.get(var.as_tensor()).unwrap().clone()
        } else {
            let (x, part) = target
                .strip_prefix("attn.")
                .and_then(|r| r.split_once('.'))
                .unwrap_or_else(|| panic!("unmapped gradient {name}"));
            let block = ["q", "k", "v"].iter().position(|c| *c == x).unwrap();
            let packed = &net.params[&format!("layer.attn.in_proj_{part}")];
            grads
                .get(packed.as_tensor())
                .unwrap()
                .narrow(0, block * 8, 8)
                .unwrap()
        };
        fx.check(&name, &grad);
    }
}

fn layer_src(call: &str) -> String {
    format!("model M {{\n  input xa: f32[B, 4, 8]\n  input xb: f32[B, 6, 8]\n  layer = {call}\n  output out = layer\n}}\n")
}

#[test]
fn crossmodal_layer_matches_the_fixture() {
    for (case, call) in [
        ("cross", "transformer_layer(xa, kv = xb, heads = 2)"),
        (
            "cross_causal",
            "transformer_layer(xa, kv = xb, heads = 2, causal = true)",
        ),
        // xb stays declared but unused (a warning only), so one input set serves all three cases.
        ("self", "transformer_layer(xa, heads = 2)"),
    ] {
        let fx = Fixture::load("crossmodal_layer");
        let net = build(&layer_src(call));
        let mut vars: HashMap<String, Var> = load_layer(&fx, &net).into_iter().collect();
        let ins = inputs(
            &[("xa", "xa", fx.get("xa")), ("xb", "xb", fx.get("xb"))],
            &mut vars,
        );
        let outs = forward(&net, &ins);
        let out = crate::fusion_util::at(&net, &outs, "layer");
        fx.check(&format!("{case}.out"), &out);
        if case != "cross_causal" {
            let scalar = vjp_term(&out, &fx.get(&format!("upstream.{case}")));
            check_layer_grads(&fx, &net, &format!("grad_{case}."), &scalar, &vars);
        }
    }
}

/// TransformerEncoder's input embedding is MulT's `sqrt(d) * x + positions` (fixture `sinusoidal_positions`).
#[test]
fn transformer_encoder_embeds_like_mult() {
    let fx = Fixture::load("sinusoidal_positions");
    let net = build(
        "import std.encoders.TransformerEncoder\nmodel M {\n  input x: f32[B, T, 8]\n  enc = TransformerEncoder(x, layers = 1, heads = 2, scale = sqrt(8), embed_dropout = 0.0)\n  output z = enc\n}\n",
    );
    let outs = forward(
        &net,
        &inputs(&[("x", "x", fx.get("x"))], &mut HashMap::new()),
    );
    fx.check("embedded", &crate::fusion_util::at(&net, &outs, "enc.h"));
    fx.check(
        "positions",
        &crate::fusion_util::at(&net, &outs, "enc.positions_0"),
    );
}
