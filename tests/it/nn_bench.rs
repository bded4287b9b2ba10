//! LSTM micro-benchmark (runs only with FUSEC_BENCH=1): training steps per second of `nn::recurrent` against
//! candle-nn's cell-by-cell LSTM on the same parameters, in the same process. In 300, hidden 128, T 20, batch 32.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::rnn::RNN;
use candle_nn::{VarBuilder, VarMap};
use fusec::ir::{Cell, Merge};
use fusec::nn::{self, ParamMap, RecurrentConfig, RecurrentParams};

use crate::nn_util::{assert_close, pseudo_random};

const STEPS: usize = 20;

/// One SGD step on `vars` for the loss `f()`; returns the loss.
fn sgd_step(vars: &[Var], f: &dyn Fn() -> Tensor) -> f32 {
    let loss = f();
    let grads = loss.backward().unwrap();
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            v.set(&(v.as_tensor() - g.affine(0.01, 0.0).unwrap()).unwrap())
                .unwrap();
        }
    }
    loss.to_scalar::<f32>().unwrap()
}

fn steps_per_second(vars: &[Var], f: &dyn Fn() -> Tensor) -> f64 {
    sgd_step(vars, f); // warm-up
    let start = Instant::now();
    for _ in 0..STEPS {
        sgd_step(vars, f);
    }
    STEPS as f64 / start.elapsed().as_secs_f64()
}

#[test]
fn lstm_steps_per_second() {
    if std::env::var("FUSEC_BENCH").as_deref() != Ok("1") {
        eprintln!("set FUSEC_BENCH=1 to run the LSTM benchmark");
        return;
    }
    let dev = Device::Cpu;
    let (batch, time, input, hidden) = (32, 20, 300, 128);
    let x = pseudo_random(&[batch, time, input], 1)
        .to_dtype(DType::F32)
        .unwrap();
    let target = pseudo_random(&[batch, hidden], 2)
        .to_dtype(DType::F32)
        .unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let reference = candle_nn::lstm(input, hidden, candle_nn::LSTMConfig::default(), vb).unwrap();
    let vars = varmap.all_vars();
    let params: ParamMap = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let cfg = RecurrentConfig {
        cell: Cell::Lstm,
        hidden,
        layers: 1,
        bidirectional: false,
        merge: Merge::Concat,
    };

    let params = RecurrentParams::from_map(&params, 1, false).unwrap();
    let ours = || nn::mse(&nn::recurrent(&x, None, &params, &cfg).unwrap().h, &target).unwrap();
    let theirs = || {
        let states = reference.seq(&x).unwrap();
        nn::mse(states[time - 1].h(), &target).unwrap()
    };
    // Same parameters, same loss: the two implementations agree before any update.
    assert_close("lstm vs candle-nn", &ours(), &theirs(), 1e-6, 1e-5);
    let start = Instant::now();
    for _ in 0..STEPS {
        ours();
    }
    let forward_rate = STEPS as f64 / start.elapsed().as_secs_f64();
    let ours_rate = steps_per_second(&vars, &ours);
    let theirs_rate = steps_per_second(&vars, &theirs);
    eprintln!(
        "LSTM training steps/s: fusec::nn::recurrent {ours_rate:.1} (forward alone {forward_rate:.1}/s), \
         candle-nn {theirs_rate:.1}"
    );
}
