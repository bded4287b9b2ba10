//! Parity of the stdlib fusion blocks with the PyTorch fixtures: each test compiles a tiny model from .fuse
//! source that calls the block, loads the fixture's weights into the network by name, runs it and compares
//! outputs, losses, batch-norm running statistics and gradients within the fixture's tolerances.

use candle_core::Tensor;

use crate::fusion_util::{at, build, check_all_grads, forward, inputs, load, named, vjp_term};
use crate::nn_util::Fixture;

const MODALITIES: [&str; 3] = ["text", "audio", "video"];

const GAN: &str = r#"
import std.fusion.GanFusion

model Gan {
  input z_text: f32[B, 4]
  input z_audio: f32[B, 4]
  input z_video: f32[B, 4]
  input eps: f32[B, 3, 4]
  fusion = GanFusion([z_text, z_audio, z_video], eps = eps, hidden = 6)
  output z = fusion.z
}
"#;

/// Fixture names (`af_text.enc1.weight`, `g_audio.bn1.running_mean`, `fuse.l1.bias`) -> our parameter paths
/// (`fusion.af.0.enc1.weight`, `fusion.g.1.bn1.running_mean`, `fusion.comb1.bias`).
fn gan_name(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("fuse.l") {
        return format!("fusion.comb{rest}");
    }
    let (head, rest) = name.split_once('.').unwrap();
    let (part, m) = head.split_once('_').unwrap();
    let index = MODALITIES.iter().position(|x| *x == m).unwrap();
    format!("fusion.{part}.{index}.{rest}")
}

#[test]
fn ganfusion_block_matches_the_fixture() {
    let fx = Fixture::load("ganfusion");
    let net = build(GAN);
    let mut vars = load(&net, &fx, gan_name);
    let noise: Vec<Tensor> = MODALITIES
        .iter()
        .map(|m| fx.get(&format!("noise_{m}")))
        .collect();
    let eps = Tensor::stack(&noise, 1).unwrap();
    let mut items: Vec<(&str, &str, Tensor)> = vec![("eps", "eps", eps)];
    let z_names: Vec<String> = MODALITIES.iter().map(|m| format!("z_{m}")).collect();
    for name in &z_names {
        items.push((name, name, fx.get(name)));
    }
    let ins = inputs(&items, &mut vars);
    let outs = forward(&net, &ins);

    for (i, m) in MODALITIES.iter().enumerate() {
        fx.check(
            &format!("z_tr.{m}"),
            &at(&net, &outs, &format!("fusion.af.{i}.fused")),
        );
        fx.check(
            &format!("recon_loss.{m}"),
            &at(&net, &outs, &format!("fusion.af.{i}.recon")),
        );
        fx.check(
            &format!("z_g.{m}"),
            &at(&net, &outs, &format!("fusion.g.{i}.l3")),
        );
        fx.check(
            &format!("d_logits_real.{m}"),
            &at(&net, &outs, &format!("fusion.real.{i}.l3")),
        );
        fx.check(
            &format!("d_logits_fake.{m}"),
            &at(&net, &outs, &format!("fusion.fake.{i}.l3")),
        );
        // One forward updates G's statistics once and D's twice (real, then fake): the final states must match.
        for net_name in ["g", "d"] {
            let stage = if net_name == "g" {
                "after."
            } else {
                "after_fake."
            };
            for stat in [
                "bn1.running_mean",
                "bn1.running_var",
                "bn2.running_mean",
                "bn2.running_var",
            ] {
                let ours = &net.params[&format!("fusion.{net_name}.{i}.{stat}")];
                fx.check(&format!("{stage}{net_name}_{m}.{stat}"), ours.as_tensor());
            }
        }
    }
    let z = named(&net, &outs, "z");
    fx.check("z", &z);
    let d_loss = at(&net, &outs, "fusion.d_loss");
    let g_loss = at(&net, &outs, "fusion.g_loss");
    let recon = at(&net, &outs, "fusion.recon");
    fx.check("d_loss", &d_loss);
    fx.check("g_loss", &g_loss);
    fx.check("recon_sum", &recon);

    // The discriminator step: d_loss over D's parameters (the only ones its optimizer holds).
    fx.check_grads("grad_d.", &d_loss.backward().unwrap(), &vars);
    // The main step: sum(z * upstream) + g_loss + recon over everything else; the noise gradients are the
    // slices of eps's gradient.
    let main = (vjp_term(&z, &fx.get("upstream")) + g_loss + recon).unwrap();
    let grads = main.backward().unwrap();
    let eps_grad = grads.get(vars["eps"].as_tensor()).unwrap();
    for (i, m) in MODALITIES.iter().enumerate() {
        fx.check(
            &format!("grad_g.noise_{m}"),
            &eps_grad.narrow(1, i, 1).unwrap().squeeze(1).unwrap(),
        );
    }
    let names: Vec<String> = fx
        .names_with_prefix("grad_g.")
        .into_iter()
        .filter(|n| !n.starts_with("grad_g.noise_"))
        .collect();
    for name in names {
        let target = &name["grad_g.".len()..];
        let grad = grads
            .get(vars[target].as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {target}"));
        fx.check(&name, grad);
    }
}

/// Fixture inputs named as the model's inputs, each taking gradients.
fn same_name_inputs(
    fx: &Fixture,
    names: &[&str],
    vars: &mut std::collections::HashMap<String, candle_core::Var>,
) -> std::collections::HashMap<String, Tensor> {
    let items: Vec<(&str, &str, Tensor)> = names.iter().map(|n| (*n, *n, fx.get(n))).collect();
    inputs(&items, vars)
}

#[test]
fn autofusion_block_matches_the_fixture() {
    let fx = Fixture::load("autofusion");
    let net = build(
        r#"
import std.fusion.AutoFusion
model M {
  input x1: f32[B, 3]
  input x2: f32[B, 4]
  input x3: f32[B, 5]
  fusion = AutoFusion([x1, x2, x3], dim = 4)
  output z = fusion.z
  loss recon = fusion.recon
}
"#,
    );
    let mut vars = load(&net, &fx, |n| format!("fusion.{n}"));
    let ins = same_name_inputs(&fx, &["x1", "x2", "x3"], &mut vars);
    let outs = forward(&net, &ins);
    let (z, recon_loss) = (named(&net, &outs, "z"), named(&net, &outs, "recon"));
    fx.check("z", &z);
    fx.check("recon", &at(&net, &outs, "fusion.dec2"));
    fx.check("recon_loss", &recon_loss);
    let scalar = (vjp_term(&z, &fx.get("upstream")) + recon_loss).unwrap();
    check_all_grads(&fx, "grad.", &scalar, &vars);
    fx.assert_all_checked();
}

#[test]
fn tensor_fusion_block_matches_the_fixture() {
    let fx = Fixture::load("tfn");
    let net = build(
        r#"
import std.fusion.TensorFusion
model M {
  input audio: f32[B, 2]
  input video: f32[B, 3]
  input text: f32[B, 4]
  fused = TensorFusion([audio, video, text])
  head = linear(fused, 5)
  output y = head
}
"#,
    );
    let mut vars = load(&net, &fx, |n| n.replace("linear.", "head."));
    let ins = same_name_inputs(&fx, &["audio", "video", "text"], &mut vars);
    let outs = forward(&net, &ins);
    fx.check("fused", &at(&net, &outs, "fused.fused.1"));
    let y = named(&net, &outs, "y");
    fx.check("output", &y);
    check_all_grads(&fx, "grad.", &vjp_term(&y, &fx.get("upstream")), &vars);
    fx.assert_all_checked();
}

#[test]
fn low_rank_fusion_block_matches_the_fixture() {
    let fx = Fixture::load("lmf");
    let net = build(
        r#"
import std.fusion.LowRankFusion
model M {
  input audio: f32[B, 2]
  input video: f32[B, 3]
  input text: f32[B, 4]
  fusion = LowRankFusion([audio, video, text], out = 5, rank = 3)
  output y = fusion
}
"#,
    );
    let map = |n: &str| match n {
        "audio_factor" => "fusion.factor.0".to_string(),
        "video_factor" => "fusion.factor.1".to_string(),
        "text_factor" => "fusion.factor.2".to_string(),
        "fusion_weights" => "fusion.weights".to_string(),
        "fusion_bias" => "fusion.bias".to_string(),
        other => other.to_string(),
    };
    let mut vars = load(&net, &fx, map);
    let ins = same_name_inputs(&fx, &["audio", "video", "text"], &mut vars);
    let outs = forward(&net, &ins);
    fx.check("fusion_zy", &at(&net, &outs, "fusion.prod.2"));
    let y = named(&net, &outs, "y");
    fx.check("output", &y);
    check_all_grads(&fx, "grad.", &vjp_term(&y, &fx.get("upstream")), &vars);
    fx.assert_all_checked();
}
