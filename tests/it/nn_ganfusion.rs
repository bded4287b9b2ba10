//! Fixture `ganfusion`: AutoFusion + BatchNorm generators and discriminators in training mode, with the running
//! statistics checked after every forward call in the documented order, the discriminator-only gradients of
//! d_loss and the gradients of the generator objective.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use fusec::ir::Activation;
use fusec::nn;

use crate::nn_fusion::autofusion;
use crate::nn_util::Fixture;

const MODALITIES: [&str; 3] = ["text", "audio", "video"];

/// The complementary modalities of each target, in the fixture's order.
fn complementary(m: &str) -> [&'static str; 2] {
    match m {
        "text" => ["audio", "video"],
        "audio" => ["text", "video"],
        _ => ["text", "audio"],
    }
}

/// G or D: `l1, bn1, leaky_relu(0.2), l2, bn2, leaky_relu(0.2), l3`, BatchNorm in training mode. After the call,
/// the updated running statistics are compared with `{stage}{net}.bnK.running_*`.
fn bn_mlp(fx: &Fixture, vars: &HashMap<String, Var>, net: &str, x: &Tensor, stage: &str) -> Tensor {
    let t = |name: &str| vars[&format!("{net}.{name}")].as_tensor().clone();
    let lin = |x: &Tensor, l: &str| {
        nn::linear(
            x,
            &t(&format!("{l}.weight")),
            Some(&t(&format!("{l}.bias"))),
        )
        .unwrap()
    };
    let bn = |x: &Tensor, b: &str| {
        let (rm, rv) = (
            &vars[&format!("{net}.{b}.running_mean")],
            &vars[&format!("{net}.{b}.running_var")],
        );
        let y = nn::batch_norm(
            x,
            &t(&format!("{b}.weight")),
            &t(&format!("{b}.bias")),
            rm,
            rv,
            true,
            1e-5,
            0.1,
        )
        .unwrap();
        nn::activation(&y, Activation::LeakyRelu { slope: 0.2 }).unwrap()
    };
    let y = lin(&bn(&lin(&bn(&lin(x, "l1"), "bn1"), "l2"), "bn2"), "l3");
    for b in ["bn1", "bn2"] {
        for stat in ["running_mean", "running_var"] {
            let name = format!("{net}.{b}.{stat}");
            fx.check(&format!("{stage}{name}"), vars[&name].as_tensor());
        }
    }
    y
}

struct Losses {
    d: Vec<Tensor>,
    g: Vec<Tensor>,
    recon: Vec<Tensor>,
}

#[test]
fn ganfusion_fixture() {
    let fx = Fixture::load("ganfusion");
    let vars = fx.vars();
    let v = |name: &str| vars[name].as_tensor().clone();
    let mut losses = Losses {
        d: Vec::new(),
        g: Vec::new(),
        recon: Vec::new(),
    };
    let mut generated = Vec::new();
    for m in MODALITIES {
        let [a, b] = complementary(m);
        let compl = Tensor::cat(&[v(&format!("z_{a}")), v(&format!("z_{b}"))], 1).unwrap();
        let (z_tr, recon) = autofusion(&vars, &format!("af_{m}."), &compl);
        fx.check(&format!("z_tr.{m}"), &z_tr);
        let recon_loss = nn::mse(&recon, &compl).unwrap();
        fx.check(&format!("recon_loss.{m}"), &recon_loss);

        let noisy =
            (v(&format!("z_{m}")) + v(&format!("noise_{m}")).affine(0.01, 0.0).unwrap()).unwrap();
        let z_g = bn_mlp(&fx, &vars, &format!("g_{m}"), &noisy, "after.");
        fx.check(&format!("z_g.{m}"), &z_g);
        let real = bn_mlp(&fx, &vars, &format!("d_{m}"), &z_tr, "after_real.");
        let fake = bn_mlp(&fx, &vars, &format!("d_{m}"), &z_g, "after_fake.");
        fx.check(&format!("d_logits_real.{m}"), &real);
        fx.check(&format!("d_logits_fake.{m}"), &fake);

        let (ones, zeros) = (real.ones_like().unwrap(), real.zeros_like().unwrap());
        let d_real = nn::bce_with_logits(&real, &ones).unwrap();
        // D runs once on z_g: detaching its input would change neither this value nor the D-parameter gradients.
        let d_fake = nn::bce_with_logits(&fake, &zeros).unwrap();
        let g_loss = nn::bce_with_logits(&fake, &ones).unwrap();
        fx.check(&format!("d_loss_real.{m}"), &d_real);
        fx.check(&format!("d_loss_fake.{m}"), &d_fake);
        fx.check(&format!("g_loss.{m}"), &g_loss);
        losses.d.push((d_real + d_fake).unwrap());
        losses.g.push(g_loss);
        losses.recon.push(recon_loss);
        generated.push(z_g);
    }
    let lin = |x: &Tensor, l: &str| {
        nn::linear(
            x,
            &v(&format!("fuse.{l}.weight")),
            Some(&v(&format!("fuse.{l}.bias"))),
        )
        .unwrap()
    };
    let cat = Tensor::cat(&generated, 1).unwrap();
    let z = nn::activation(
        &lin(&lin(&cat, "l1").tanh().unwrap(), "l2"),
        Activation::Relu,
    )
    .unwrap();
    fx.check("z", &z);

    let total = |ts: &[Tensor]| {
        ts.iter()
            .skip(1)
            .fold(ts[0].clone(), |acc, t| (acc + t).unwrap())
    };
    let (d_loss, g_loss, recon_sum) = (total(&losses.d), total(&losses.g), total(&losses.recon));
    fx.check("d_loss", &d_loss);
    fx.check("g_loss", &g_loss);
    fx.check("recon_sum", &recon_sum);

    fx.check_grads("grad_d.", &d_loss.backward().unwrap(), &vars);
    let objective = (z.mul(&fx.get("upstream")).unwrap().sum_all().unwrap() + g_loss)
        .unwrap()
        .add(&recon_sum)
        .unwrap();
    fx.check_grads("grad_g.", &objective.backward().unwrap(), &vars);
    fx.assert_all_checked();
}
