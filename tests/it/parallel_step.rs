//! Inter-op parallel training steps (`backend::autodiff::parallel`) against the sequential order: for the 26
//! examples `autodiff.rs` checks against candle's autograd, three batches of every plan step — each step's objective, every
//! gradient, the batch-norm running statistics and the generator's position afterwards — must be the same bits
//! when the nodes run as a dependency graph on a pool of two threads, and under the latest-first schedule,
//! which runs every ready node in the order least like the sequential one (so a missing ordering edge, say
//! between two dropout nodes or two batch norms sharing statistics, changes the numbers every time).

use std::collections::BTreeMap;

use fusec::backend::Schedule;
use fusec::rng::SeededRng;
use fusec::run::batch_inputs;
use fusec::run::step_plan::CompiledPlan;

use crate::support::{assert_threads_pinned, step_setup, StepSetup};

/// What three batches of forward passes and plan steps produced, as raw bits.
#[derive(Debug, PartialEq)]
struct Trace {
    objectives: Vec<u64>,
    grads: Vec<BTreeMap<String, Vec<u32>>>,
    params_after: BTreeMap<String, Vec<u32>>,
    rng_after: String,
}

fn bits(t: &candle_core::Tensor) -> Vec<u32> {
    t.to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

fn trace(path: &str, batch: usize, schedule: Schedule) -> Trace {
    let StepSetup {
        mut net,
        objectives,
        assignment,
        data,
    } = step_setup(path, 5);
    net.set_schedule(schedule);
    let compiled = CompiledPlan::new(&net, &objectives, &assignment);
    let mut rng = SeededRng::new(17);
    let mut out = Trace {
        objectives: Vec::new(),
        grads: Vec::new(),
        params_after: BTreeMap::new(),
        rng_after: String::new(),
    };
    for b in 0..3 {
        let idx: Vec<usize> = data
            .train
            .iter()
            .copied()
            .cycle()
            .skip(b * batch)
            .take(batch)
            .collect();
        let inputs = batch_inputs(&net, &data, &idx).unwrap();
        let mut tape = compiled.forward(&net, &inputs, &mut rng).unwrap();
        for si in 0..compiled.steps.len() {
            let result = compiled
                .step(si, &net, &inputs, &mut rng, &mut tape)
                .unwrap();
            out.objectives.push(result.value.to_bits());
            out.grads.push(
                result
                    .grads
                    .grads
                    .iter()
                    .map(|(n, g)| (n.clone(), bits(g)))
                    .collect(),
            );
        }
    }
    out.params_after = net
        .params
        .iter()
        .map(|(n, v)| (n.clone(), bits(v)))
        .collect();
    out.rng_after = format!("{:?}", rng.state());
    out
}

fn check(path: &str, batch: usize) {
    assert_threads_pinned();
    let sequential = trace(path, batch, Schedule::Auto);
    assert!(
        sequential.grads.iter().any(|g| !g.is_empty()),
        "{path}: no gradients"
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let parallel = pool.install(|| {
        assert_eq!(rayon::current_num_threads(), 2);
        trace(path, batch, Schedule::Auto)
    });
    assert!(
        sequential == parallel,
        "{path}: two threads differ from the sequential order"
    );
    let latest_first = trace(path, batch, Schedule::LatestFirst);
    assert!(
        sequential == latest_first,
        "{path}: the latest-first schedule differs from the sequential order"
    );
}

#[test]
fn iemocap_examples_step_the_same_in_parallel() {
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
        check(&format!("examples/iemocap/{m}.fuse"), 4);
    }
}

#[test]
fn mfeat_examples_step_the_same_in_parallel() {
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
        "conv_rows",
    ] {
        check(&format!("examples/mfeat/{m}.fuse"), 6);
    }
}

#[test]
fn mosi_mmt_and_sequence_examples_step_the_same_in_parallel() {
    for f in [
        "examples/mosi/concat.fuse",
        "examples/mosi/ganfusion.fuse",
        "examples/mosi/mult.fuse",
        "examples/mmt/emoji_de_text.fuse",
        "examples/mmt/emoji_de_gan.fuse",
        "examples/mmt/emoji_de_autofusion.fuse",
        "examples/unaligned/iemocap_conv.fuse",
        "examples/unaligned/mosi_conv.fuse",
    ] {
        check(f, 4);
    }
}
