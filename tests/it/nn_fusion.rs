//! Fixtures `tfn`, `lmf` and `autofusion`: the fusion baselines and AutoFusion built from the nn primitives
//! (outer products, broadcast matmul, linear, activations, mse), with every output and gradient.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};
use fusec::ir::Activation;
use fusec::nn;

use crate::nn_util::Fixture;

/// `[1, h]`: the constant 1 is prepended (index 0), as in the TFN and LMF reference code.
fn with_one(h: &Tensor) -> Tensor {
    let ones = Tensor::ones((h.dim(0).unwrap(), 1), DType::F32, h.device()).unwrap();
    Tensor::cat(&[&ones, h], 1).unwrap()
}

fn t<'a>(vars: &'a HashMap<String, Var>, name: &str) -> &'a Tensor {
    vars[name].as_tensor()
}

#[test]
fn tfn_fixture() {
    let fx = Fixture::load("tfn");
    let vars = fx.vars();
    let av = nn::outer(&with_one(t(&vars, "audio")), &with_one(t(&vars, "video"))).unwrap();
    let fused = nn::outer(&av, &with_one(t(&vars, "text"))).unwrap();
    fx.check("fused", &fused);
    let out = nn::linear(
        &fused,
        t(&vars, "linear.weight"),
        Some(t(&vars, "linear.bias")),
    )
    .unwrap();
    fx.check("output", &out);
    let grads = out
        .mul(&fx.get("upstream"))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    fx.check_grads("grad.", &grads, &vars);
    fx.assert_all_checked();
}

#[test]
fn lmf_fixture() {
    let fx = Fixture::load("lmf");
    let vars = fx.vars();
    // [B, d+1] @ [r, d+1, out] -> [r, B, out] for each modality.
    let factor =
        |m: &str| nn::matmul(&with_one(t(&vars, m)), t(&vars, &format!("{m}_factor"))).unwrap();
    let zy = (factor("audio") * factor("video"))
        .unwrap()
        .mul(&factor("text"))
        .unwrap();
    fx.check("fusion_zy", &zy);
    // [1, r] @ [B, r, out] -> [B, 1, out] -> [B, out], plus the [1, out] bias.
    let weighted = nn::matmul(t(&vars, "fusion_weights"), &zy.permute((1, 0, 2)).unwrap()).unwrap();
    let out = nn::broadcast_binary(
        &weighted.squeeze(1).unwrap(),
        t(&vars, "fusion_bias"),
        fusec::ir::BinaryOp::Add,
    )
    .unwrap();
    fx.check("output", &out);
    let grads = out
        .mul(&fx.get("upstream"))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    fx.check_grads("grad.", &grads, &vars);
    fx.assert_all_checked();
}

/// AutoFusion's encoder and decoder; `prefix` selects the parameter set (`""` or `af_text.`).
pub fn autofusion(vars: &HashMap<String, Var>, prefix: &str, zc: &Tensor) -> (Tensor, Tensor) {
    let lin = |x: &Tensor, name: &str| {
        let w = t(vars, &format!("{prefix}{name}.weight"));
        nn::linear(x, w, Some(t(vars, &format!("{prefix}{name}.bias")))).unwrap()
    };
    let act = |x: Tensor, a: Activation| nn::activation(&x, a).unwrap();
    let z = act(
        lin(&act(lin(zc, "enc1"), Activation::Tanh), "enc2"),
        Activation::Relu,
    );
    let recon = lin(&act(lin(&z, "dec1"), Activation::Relu), "dec2");
    (z, recon)
}

#[test]
fn autofusion_fixture() {
    let fx = Fixture::load("autofusion");
    let vars = fx.vars();
    let zc = Tensor::cat(&[t(&vars, "x1"), t(&vars, "x2"), t(&vars, "x3")], 1).unwrap();
    let (z, recon) = autofusion(&vars, "", &zc);
    fx.check("z", &z);
    fx.check("recon", &recon);
    // The target zc is not detached, so the loss also reaches x1..x3 directly.
    let recon_loss = nn::mse(&recon, &zc).unwrap();
    fx.check("recon_loss", &recon_loss);
    let scalar = z
        .mul(&fx.get("upstream"))
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&recon_loss)
        .unwrap();
    fx.check_grads("grad.", &scalar.backward().unwrap(), &vars);
    fx.assert_all_checked();
}
