//! `fusec bench`: training throughput of compiled models against the same models written directly against
//! candle, measured in one process and printed as ratios. The goal is that the compiler costs at most 5%.

mod crash;
mod direct;
mod mmt;
mod train_file;

pub use crash::{crash_consistency, format_crash, CrashOptions, CrashReport, Trial};
pub use mmt::{format_mmt, mmt_rates, MmtRates};
pub use train_file::{bench_train_file, format_train_bench, TrainBench, TrainBenchOptions};

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor};

use crate::backend::{Mode, Network};
use crate::ir::OptimizerKind;
use crate::rng::SeededRng;
use crate::train::Optimizer;

/// One comparison: steps per second of both implementations and their ratio (fusec / direct).
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub name: String,
    pub fusec: f64,
    pub direct: f64,
}

impl BenchRow {
    pub fn ratio(&self) -> f64 {
        self.fusec / self.direct
    }
}

/// The MLP of the measurements: 409-128-64-4, batch 32, Adam 1e-3.
pub const MLP_SRC: &str = "model Bench {
  input x: f32[B, 409]
  input y: i64[B]
  h1 = relu(linear(x, 128))
  h2 = relu(linear(h1, 64))
  output logits = linear(h2, 4)
  loss task = cross_entropy(logits, y)
}
";

/// A single-direction-pair BiLSTM classifier: in 300, hidden 128, T 20, batch 32.
pub const BILSTM_SRC: &str = "model Bench {
  input x: f32[B, T, 300]
  input y: i64[B]
  rnn = lstm(x, hidden = 128, bidirectional = true)
  output logits = linear(rnn.h, 4)
  loss task = cross_entropy(logits, y)
}
";

pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
}

pub fn random_batch(dims: &[usize], classes: i64, rng: &mut SeededRng) -> Result<Batch> {
    let x = rng.normal_tensor(dims, 1.0, &Device::Cpu)?;
    let labels: Vec<i64> = (0..dims[0])
        .map(|_| (rng.next_u64() % classes as u64) as i64)
        .collect();
    let y = Tensor::from_vec(labels, dims[0], &Device::Cpu)?;
    Ok(Batch { x, y })
}

/// Trains a compiled model for `steps` steps on one fixed batch; returns steps per second.
pub fn fusec_steps_per_second(
    src: &str,
    batch: &Batch,
    steps: usize,
) -> std::result::Result<f64, String> {
    let compiled = crate::front::compile_source("bench.fuse", src, &[], true)
        .map_err(|f| crate::diag::render(&f.diagnostics, &f.sources, false))?;
    let (model, shapes) = (&compiled.program.models[0], &compiled.shapes[0]);
    let run = || -> Result<f64> {
        let net = Network::build(model, shapes, &Device::Cpu, &mut SeededRng::new(0))?;
        let kind = OptimizerKind::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let mut opt = Optimizer::new(&kind, net.trainable())?;
        let loss_value = model
            .loss_value("task")
            .ok_or_else(|| candle_core::Error::Msg("no loss".into()))?;
        let inputs: HashMap<String, Tensor> = [
            ("x".to_string(), batch.x.clone()),
            ("y".to_string(), batch.y.clone()),
        ]
        .into();
        let mut rng = SeededRng::new(1);
        let mut step = |opt: &mut Optimizer| -> Result<()> {
            let out = net.forward(&inputs, &mut Mode::Train(&mut rng))?;
            let grads = out.get(loss_value)?.backward()?;
            opt.step(&grads)
        };
        for _ in 0..steps / 10 + 1 {
            step(&mut opt)?;
        }
        let t = Instant::now();
        for _ in 0..steps {
            step(&mut opt)?;
        }
        Ok(steps as f64 / t.elapsed().as_secs_f64())
    };
    run().map_err(|e| e.to_string())
}

/// Runs both comparisons `rounds` times, alternating implementations, and keeps each one's best round.
pub fn run_all(
    steps_mlp: usize,
    steps_lstm: usize,
    rounds: usize,
) -> std::result::Result<Vec<BenchRow>, String> {
    let mut rng = SeededRng::new(42);
    let mlp = random_batch(&[32, 409], 4, &mut rng).map_err(|e| e.to_string())?;
    let seq = random_batch(&[32, 20, 300], 4, &mut rng).map_err(|e| e.to_string())?;
    let mut rows = vec![
        BenchRow {
            name: "MLP 409-128-64-4, batch 32, Adam".into(),
            fusec: 0.0,
            direct: 0.0,
        },
        BenchRow {
            name: "BiLSTM 300->2x128, T 20, batch 32, Adam".into(),
            fusec: 0.0,
            direct: 0.0,
        },
    ];
    for _ in 0..rounds.max(1) {
        let d = direct::mlp_steps_per_second(&mlp, steps_mlp).map_err(|e| e.to_string())?;
        rows[0].direct = rows[0].direct.max(d);
        rows[0].fusec = rows[0]
            .fusec
            .max(fusec_steps_per_second(MLP_SRC, &mlp, steps_mlp)?);
        let d = direct::bilstm_steps_per_second(&seq, steps_lstm).map_err(|e| e.to_string())?;
        rows[1].direct = rows[1].direct.max(d);
        rows[1].fusec = rows[1]
            .fusec
            .max(fusec_steps_per_second(BILSTM_SRC, &seq, steps_lstm)?);
    }
    Ok(rows)
}

pub fn format_rows(rows: &[BenchRow]) -> String {
    let mut s = format!(
        "{:<42} {:>14} {:>14} {:>8}\n",
        "model", "fusec steps/s", "candle steps/s", "ratio"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<42} {:>14.1} {:>14.1} {:>8.3}\n",
            r.name,
            r.fusec,
            r.direct,
            r.ratio()
        ));
    }
    s
}

/// Keeps `DType` in scope for the direct implementations' casts.
pub(crate) const F32: DType = DType::F32;
