//! Mixed precision (`precision = "bf16"`): the setting and its diagnostics, fusion blocks computed in bf16 against
//! the f32 fixtures within bf16's rounding, and bf16 training keeping f32 master weights and optimizer state and
//! landing near the f32 run, all on the test device (`crate::device`).

use candle_core::DType;
use fusec::front::compile;
use fusec::ir::Precision;
use fusec::source::MemoryLoader;

use crate::check::render_result;
use crate::device::{test_device, BF16_TOLERANCE};
use crate::fusion_util::{at, build, forward, inputs, load, named, vjp_term};
use crate::nn_util::{assert_close, Fixture};
use crate::support::{compile_file, temp_dir, train_on};

const MFEAT: &str = "examples/mfeat/concat.fuse";

/// examples/mfeat/concat.fuse with `line` added to its train plan (an extension of common.fuse's), in memory with
/// common.fuse beside it.
fn with_plan_line(line: &str) -> MemoryLoader {
    let src = std::fs::read_to_string(MFEAT).unwrap();
    let common = std::fs::read_to_string("examples/mfeat/common.fuse").unwrap();
    MemoryLoader::new()
        .with(
            "main.fuse",
            &format!("{src}\ntrain mfeat {{\n  {line}\n}}\n"),
        )
        .with("common.fuse", &common)
}

/// Compiles `main.fuse` of a loader made by [`with_plan_line`].
fn compile_main(
    loader: &MemoryLoader,
    overrides: &[(String, String)],
) -> Result<fusec::front::Compiled, fusec::front::Failed> {
    compile(loader, "main.fuse", overrides, false)
}

#[test]
fn precision_defaults_to_f32_and_is_set_in_the_plan_or_with_set() {
    let plan = |c: fusec::front::Compiled| c.program.train.unwrap().precision;
    assert_eq!(plan(compile_file(MFEAT, &[], false)), Precision::F32);
    let src = with_plan_line("precision = \"bf16\"");
    let c = compile_main(&src, &[]).unwrap();
    assert_eq!(plan(c), Precision::Bf16);
    let set = compile_file(MFEAT, &[("precision", "bf16")], false);
    assert_eq!(plan(set), Precision::Bf16);
    let back = vec![("precision".to_string(), "f32".to_string())];
    let c = compile_main(&src, &back).unwrap();
    assert_eq!(plan(c), Precision::F32);
}

#[test]
fn an_unknown_precision_gets_a_did_you_mean() {
    let src = with_plan_line("precision = \"bf61\"");
    let written = render_result(compile_main(&src, &[]));
    let set = vec![("precision".to_string(), "f23".to_string())];
    let from_set = render_result(compile_main(&with_plan_line("seed = 0"), &set));
    let not_a_string = render_result(compile_main(&with_plan_line("precision = 16"), &[]));
    insta::assert_snapshot!(format!("{written}\n{from_set}\n{not_a_string}"));
}

#[test]
fn bf16_fusion_blocks_stay_near_the_f32_fixtures() {
    let fx = Fixture::load("autofusion");
    let mut net = build(
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
    net.set_precision(Precision::Bf16);
    let mut vars = load(&net, &fx, |n| format!("fusion.{n}"));
    let items: Vec<(&str, &str, candle_core::Tensor)> = ["x1", "x2", "x3"]
        .iter()
        .map(|n| (*n, *n, fx.get(n)))
        .collect();
    let ins = inputs(&items, &mut vars);
    let outs = forward(&net, &ins);
    let (z, recon) = (named(&net, &outs, "z"), named(&net, &outs, "recon"));
    assert_eq!(z.dtype(), DType::BF16, "activations compute in bf16");
    assert_eq!(recon.dtype(), DType::F32, "losses compute in f32");
    let (atol, rtol) = BF16_TOLERANCE;
    assert_close("z", &z, &fx.get("z"), atol, rtol);
    assert_close(
        "dec2",
        &at(&net, &outs, "fusion.dec2"),
        &fx.get("recon"),
        atol,
        rtol,
    );
    assert_close("recon", &recon, &fx.get("recon_loss"), atol, rtol);
    let grads = (vjp_term(&z.to_dtype(DType::F32).unwrap(), &fx.get("upstream")) + recon)
        .unwrap()
        .backward()
        .unwrap();
    for name in fx.names_with_prefix("grad.") {
        let var = &vars[&name["grad.".len()..]];
        assert_eq!(var.dtype(), DType::F32, "master weights stay f32");
        let g = grads.get(var.as_tensor()).unwrap();
        assert_eq!(
            g.dtype(),
            DType::F32,
            "{name}: gradients reach the f32 weights in f32"
        );
        assert_close(&name, g, &fx.get(&name), atol, rtol);
    }
}

#[test]
fn bf16_training_keeps_f32_weights_and_state_and_lands_near_f32() {
    let train = |precision: &str| {
        let c = compile_file(MFEAT, &[("epochs", "3"), ("precision", precision)], false);
        let dir = temp_dir("precision", precision);
        let outcome = train_on(&c, &dir, false, None, &test_device()).unwrap();
        (outcome, dir)
    };
    let (f32_run, _) = train("f32");
    let (bf16_run, dir) = train("bf16");
    assert_eq!(bf16_run.net.compute_dtype(), DType::BF16);
    for (name, var) in &bf16_run.net.params {
        assert_eq!(var.dtype(), DType::F32, "{name}");
    }
    let state = candle_core::safetensors::load(
        dir.join("checkpoints/last/optimizer.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(!state.is_empty());
    for (name, t) in &state {
        assert!(
            matches!(t.dtype(), DType::F32 | DType::I64),
            "{name}: {:?}",
            t.dtype()
        );
    }
    let acc = |o: &fusec::run::RunOutcome| {
        let r = o.report.as_ref().unwrap();
        r.test.iter().find(|(k, _)| k == "accuracy").unwrap().1
    };
    let (a32, a16) = (acc(&f32_run), acc(&bf16_run));
    assert!(a16 > 0.5, "bf16 run learned nothing: accuracy {a16}");
    assert!(
        (a32 - a16).abs() < 0.1,
        "bf16 accuracy {a16} is far from f32's {a32}"
    );
}
