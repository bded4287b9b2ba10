//! The baselines of `fusec bench`: the benchmark models written directly against candle and candle-nn, the
//! way a user would write them by hand (candle-nn's Linear-style matmuls, its LSTM cell stepped per time step,
//! its AdamW with no weight decay, which is Adam).

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var, D};
use candle_nn::{Optimizer as _, ParamsAdamW, VarBuilder, VarMap, RNN};

use super::{Batch, F32};

fn adam(vars: Vec<Var>) -> Result<candle_nn::AdamW> {
    candle_nn::AdamW::new(
        vars,
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
}

fn timed(steps: usize, mut step: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..steps / 10 + 1 {
        step()?;
    }
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    Ok(steps as f64 / t.elapsed().as_secs_f64())
}

pub fn mlp_steps_per_second(batch: &Batch, steps: usize) -> Result<f64> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, F32, &Device::Cpu);
    let l1 = candle_nn::linear(409, 128, vb.pp("l1"))?;
    let l2 = candle_nn::linear(128, 64, vb.pp("l2"))?;
    let l3 = candle_nn::linear(64, 4, vb.pp("l3"))?;
    let mut opt = adam(varmap.all_vars())?;
    timed(steps, || {
        use candle_nn::Module;
        let h = l1.forward(&batch.x)?.relu()?;
        let h = l2.forward(&h)?.relu()?;
        let logits = l3.forward(&h)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &batch.y)?;
        opt.backward_step(&loss)
    })
}

pub fn bilstm_steps_per_second(batch: &Batch, steps: usize) -> Result<f64> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, F32, &Device::Cpu);
    let fwd = candle_nn::lstm(300, 128, Default::default(), vb.pp("fwd"))?;
    let cfg = candle_nn::LSTMConfig {
        direction: candle_nn::rnn::Direction::Backward,
        ..Default::default()
    };
    let bwd = candle_nn::lstm(300, 128, cfg, vb.pp("bwd"))?;
    let head = candle_nn::linear(256, 4, vb.pp("head"))?;
    let mut opt = adam(varmap.all_vars())?;
    let t = batch.x.dim(1)?;
    let reversed_idx = Tensor::from_vec((0..t as u32).rev().collect::<Vec<_>>(), t, &Device::Cpu)?;
    timed(steps, || {
        use candle_nn::Module;
        let f = fwd.seq(&batch.x)?;
        let xr = batch.x.index_select(&reversed_idx, 1)?;
        let b = bwd.seq(&xr)?;
        let (Some(hf), Some(hb)) = (f.last(), b.last()) else {
            return Err(candle_core::Error::Msg("empty sequence".into()));
        };
        let h = Tensor::cat(&[hf.h(), hb.h()], D::Minus1)?;
        let logits = head.forward(&h)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &batch.y)?;
        opt.backward_step(&loss)
    })
}
