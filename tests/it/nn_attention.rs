//! Fixtures `crossmodal_layer` (MulT pre-LN layer: cross, self and causal cross attention, attention maps and
//! every gradient) and `sinusoidal_positions`, plus finite-difference and dropout checks of attention.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};
use fusec::nn::{self, AttentionParams, ParamMap, TransformerParams};
use fusec::rng::SeededRng;

use crate::device::test_device;
use crate::nn_util::{assert_close, check_finite_differences, flat_f64, pseudo_random, Fixture};

const HEADS: usize = 2;

/// The layer's parameters under the op's suffixes: q/k/v weights packed into `attn.in_proj_*` (through `cat`,
/// so gradients flow back to the separate fixture variables).
fn layer_params(vars: &HashMap<String, Var>) -> ParamMap {
    let mut p = ParamMap::new();
    for name in [
        "ln0.weight",
        "ln0.bias",
        "ln1.weight",
        "ln1.bias",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ] {
        p.insert(name.to_string(), vars[name].as_tensor().clone());
    }
    let pack = |kind: &str| {
        let parts: Vec<&Tensor> = ["q", "k", "v"]
            .iter()
            .map(|b| vars[&format!("attn.{b}.{kind}")].as_tensor())
            .collect();
        Tensor::cat(&parts, 0).unwrap()
    };
    p.insert("attn.in_proj_weight".into(), pack("weight"));
    p.insert("attn.in_proj_bias".into(), pack("bias"));
    p.insert(
        "attn.out_proj.weight".into(),
        vars["attn.out.weight"].as_tensor().clone(),
    );
    p.insert(
        "attn.out_proj.bias".into(),
        vars["attn.out.bias"].as_tensor().clone(),
    );
    p
}

/// The attention parameters inside the layer's (suffixes under `attn.`).
fn attn_params(p: &ParamMap) -> AttentionParams {
    AttentionParams::from_map(&nn::sub_map(p, "attn.")).unwrap()
}

/// The layer's typed parameter set, read from the map by the op's suffixes.
fn typed(p: &ParamMap) -> TransformerParams {
    TransformerParams::from_map(p).unwrap()
}

/// The attention probabilities inside the layer: attention on LN0 of query and key/value.
fn layer_probs(p: &ParamMap, xa: &Tensor, xb: Option<&Tensor>, causal: bool) -> Tensor {
    let ln0 = |t: &Tensor| nn::layer_norm(t, &p["ln0.weight"], &p["ln0.bias"], 1e-5).unwrap();
    let kv = xb.map(ln0);
    nn::attention_with_probs(
        &ln0(xa),
        kv.as_ref(),
        &attn_params(p),
        HEADS,
        causal,
        0.0,
        None,
    )
    .unwrap()
    .1
}

#[test]
fn crossmodal_layer_fixture() {
    let fx = Fixture::load("crossmodal_layer");
    // Cross attention: xa queries xb.
    let vars = fx.vars();
    let p = layer_params(&vars);
    let (xa, xb) = (vars["xa"].as_tensor(), vars["xb"].as_tensor());
    let out =
        nn::transformer_layer(xa, Some(xb), &typed(&p), HEADS, false, 0.0, 0.0, 0.0, None).unwrap();
    fx.check("cross.out", &out);
    fx.check("cross.attn", &layer_probs(&p, xa, Some(xb), false));
    let grads = out
        .mul(&fx.get("upstream.cross"))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    fx.check_grads("grad_cross.", &grads, &vars);

    // Self attention on xa.
    let vars = fx.vars();
    let p = layer_params(&vars);
    let xa = vars["xa"].as_tensor();
    let out =
        nn::transformer_layer(xa, None, &typed(&p), HEADS, false, 0.0, 0.0, 0.0, None).unwrap();
    fx.check("self.out", &out);
    fx.check("self.attn", &layer_probs(&p, xa, None, false));
    let grads = out
        .mul(&fx.get("upstream.self"))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    fx.check_grads("grad_self.", &grads, &vars);

    // Causal cross attention (forward only).
    let (xa, xb) = (fx.get("xa"), fx.get("xb"));
    let out = nn::transformer_layer(&xa, Some(&xb), &typed(&p), HEADS, true, 0.0, 0.0, 0.0, None)
        .unwrap();
    fx.check("cross_causal.out", &out);
    fx.check("cross_causal.attn", &layer_probs(&p, &xa, Some(&xb), true));
    fx.assert_all_checked();
}

#[test]
fn sinusoidal_positions_fixture() {
    let fx = Fixture::load("sinusoidal_positions");
    let dev = test_device();
    let freqs: Vec<f32> = nn::position_frequencies(8)
        .unwrap()
        .iter()
        .map(|f| *f as f32)
        .collect();
    fx.check("inv_freq", &Tensor::new(freqs.as_slice(), &dev).unwrap());
    let pos = nn::positions(6, 8, &dev).unwrap();
    fx.check("positions", &pos);
    let table = Tensor::cat(
        &[&Tensor::zeros((1, 8), DType::F32, &dev).unwrap(), &pos],
        0,
    )
    .unwrap();
    fx.check("table", &table);
    let embedded = fx
        .get("x")
        .affine(8f64.sqrt(), 0.0)
        .unwrap()
        .broadcast_add(&pos)
        .unwrap();
    fx.check("embedded", &embedded);
    fx.assert_all_checked();
    assert!(nn::positions(3, 2, &dev).is_err());
    assert_eq!(nn::positions(3, 5, &dev).unwrap().dims(), &[3, 5]);
}

fn random_attn_params(d: usize, seed: u64) -> AttentionParams {
    let mut p = ParamMap::new();
    p.insert("in_proj_weight".into(), pseudo_random(&[3 * d, d], seed));
    p.insert("in_proj_bias".into(), pseudo_random(&[3 * d], seed + 1));
    p.insert("out_proj.weight".into(), pseudo_random(&[d, d], seed + 2));
    p.insert("out_proj.bias".into(), pseudo_random(&[d], seed + 3));
    AttentionParams::from_map(&p).unwrap()
}

#[test]
fn causal_attention_gradients_and_mask() {
    let p = random_attn_params(4, 20);
    let q = pseudo_random(&[2, 3, 4], 1);
    let kv = pseudo_random(&[2, 5, 4], 2);
    check_finite_differences("causal attention", &[q.clone(), kv.clone()], |t| {
        nn::attention(&t[0], Some(&t[1]), &p, 2, true, 0.0, None)
    });
    // Query i sees keys j <= i + |5 - 3|.
    let probs = nn::attention_with_probs(&q, Some(&kv), &p, 2, true, 0.0, None)
        .unwrap()
        .1;
    let v = flat_f64(&probs);
    for (n, value) in v.iter().enumerate() {
        let (i, j) = ((n / 5) % 3, n % 5);
        assert_eq!(
            *value == 0.0,
            j > i + 2,
            "prob[{n}] (query {i}, key {j}) = {value}"
        );
    }
}

#[test]
fn attention_dropout_only_with_rng() {
    let p = random_attn_params(4, 30);
    let q = pseudo_random(&[2, 3, 4], 5);
    let plain = nn::attention(&q, None, &p, 2, false, 0.5, None).unwrap();
    let no_drop = nn::attention(&q, None, &p, 2, false, 0.0, Some(&mut SeededRng::new(1))).unwrap();
    assert_close("no rng", &plain, &no_drop, 0.0, 0.0);
    let dropped = nn::attention(&q, None, &p, 2, false, 0.5, Some(&mut SeededRng::new(1))).unwrap();
    let again = nn::attention(&q, None, &p, 2, false, 0.5, Some(&mut SeededRng::new(1))).unwrap();
    assert_close("seeded", &dropped, &again, 0.0, 0.0);
    let diff = (dropped - &plain)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(diff > 1e-3, "dropout changed nothing");
    assert!(
        nn::attention(&q, None, &p, 3, false, 0.0, None).is_err(),
        "4 channels into 3 heads"
    );
}
