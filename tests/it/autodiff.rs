//! The compiled backward pass (`backend::autodiff` over `passes::grad_graph`) against candle's autograd on the
//! whole model: for every example with data in the repository, one batch, every plan step, every parameter of
//! the step's optimizer. Both sides draw dropout masks and noise from the same generator position, so they see
//! the same forward pass; the engine must produce exactly the gradients candle does (to float rounding) and no
//! gradient for a parameter the step's optimizer does not own.

use candle_core::DType;
use fusec::backend::Mode;
use fusec::rng::SeededRng;
use fusec::run::batch_inputs;
use fusec::run::step_plan::CompiledPlan;

use crate::nn_util::assert_close;
use crate::support::{step_setup, StepSetup};

fn check_file(path: &str, batch: usize) {
    let StepSetup {
        net,
        objectives,
        assignment,
        data,
    } = step_setup(path, 5);
    let idx: Vec<usize> = data.train.iter().copied().take(batch).collect();
    let inputs = batch_inputs(&net, &data, &idx).unwrap();
    let compiled = CompiledPlan::new(&net, &objectives, &assignment);
    let rng = SeededRng::new(17);
    let mut engine_rng = rng.clone();
    let mut tape = compiled.forward(&net, &inputs, &mut engine_rng).unwrap();
    for (si, obj) in objectives.steps.iter().enumerate() {
        let what = format!("{path} step {}", obj.step);
        let mut ref_rng = rng.clone();
        let out = net
            .forward(&inputs, &mut Mode::Train(&mut ref_rng))
            .unwrap();
        let (loss, _) = obj.eval(&out).unwrap();
        let reference = loss.backward().unwrap();
        let result = compiled
            .step(si, &net, &inputs, &mut engine_rng, &mut tape)
            .unwrap();
        let want = f64::from(
            loss.to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        );
        assert!(
            (result.value - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "{what}: objective {} vs candle {want}",
            result.value
        );
        let owned = &assignment[&obj.optimizer];
        for name in owned {
            let var = &net.params[name];
            let expected = reference.get(var.as_tensor());
            let got = result.grads.grads.get(name);
            match (got, expected) {
                (Some(g), Some(e)) => {
                    let scale = e
                        .abs()
                        .unwrap()
                        .max_all()
                        .unwrap()
                        .to_dtype(DType::F64)
                        .unwrap();
                    let scale = scale.to_scalar::<f64>().unwrap();
                    let atol = 2e-5 * (1.0 + scale);
                    assert_close(&format!("{what}: d{name}"), g, e, atol, 1e-3);
                }
                (None, Some(e)) => {
                    let nonzero = e
                        .abs()
                        .unwrap()
                        .max_all()
                        .unwrap()
                        .to_dtype(DType::F64)
                        .unwrap();
                    assert!(
                        nonzero.to_scalar::<f64>().unwrap() == 0.0,
                        "{what}: the engine pruned `{name}`, whose gradient is not zero"
                    );
                }
                (Some(_), None) => {
                    panic!("{what}: gradient for `{name}` that candle does not reach")
                }
                (None, None) => {}
            }
        }
        for name in result.grads.grads.keys() {
            assert!(
                owned.contains(name),
                "{what}: gradient for `{name}` of another optimizer"
            );
        }
    }
}

#[test]
fn iemocap_examples_match_candle_autograd() {
    for m in [
        "concat",
        "concat_mlp",
        "autofusion",
        "ganfusion",
        "tfn",
        "lmf",
        "mult",
        "concat_4way",
    ] {
        check_file(&format!("examples/iemocap/{m}.fuse"), 4);
    }
}

#[test]
fn mfeat_examples_match_candle_autograd() {
    for m in [
        "concat",
        "concat_mlp",
        "autofusion",
        "ganfusion",
        "tfn",
        "lmf",
        "mult",
        "six_views",
        "all_views",
    ] {
        check_file(&format!("examples/mfeat/{m}.fuse"), 8);
    }
}

#[test]
fn mosi_and_mmt_examples_match_candle_autograd() {
    for f in [
        "examples/mosi/concat.fuse",
        "examples/mosi/ganfusion.fuse",
        "examples/mosi/mult.fuse",
        "examples/mmt/emoji_de_text.fuse",
        "examples/mmt/emoji_de_gan.fuse",
        "examples/mmt/emoji_de_autofusion.fuse",
    ] {
        check_file(f, 4);
    }
}

#[test]
fn sequence_examples_match_candle_autograd() {
    // ConvEncoder (strided convolutions, batch norm over channels and steps, pooling) on unaligned lengths.
    for f in [
        "examples/mfeat/conv_rows.fuse",
        "examples/unaligned/iemocap_conv.fuse",
        "examples/unaligned/mosi_conv.fuse",
    ] {
        check_file(f, 4);
    }
}
