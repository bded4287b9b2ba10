//! `fusec bench --train FILE`: training steps/s and prediction examples/s of a model file on its own data,
//! measured with the protocol of `benchmarks/` (the PyTorch side uses the same): a pool of pre-gathered batches
//! cycled so no data loading is timed, warm-up steps, then the median of several timings; prediction through the
//! prediction graph at a large batch. Also the FLOPs of a training step, so the rate can be read against the GEMM
//! peak.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::api::FsLoader;
use crate::backend::infer::InferPlan;
use crate::backend::Network;
use crate::front::compile;
use crate::rng::SeededRng;
use crate::run::step_plan::{train_batch, BatchOutcome, CompiledPlan};
use crate::run::{batch_inputs, plan_optimizers, Objectives};

/// What to measure.
#[derive(Clone, Debug)]
pub struct TrainBenchOptions {
    pub file: String,
    pub sets: Vec<(String, String)>,
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub reps: usize,
    pub infer_batch: usize,
}

/// The measurement.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBench {
    pub file: String,
    pub model: String,
    pub params: usize,
    pub batch: usize,
    pub threads: usize,
    pub train_steps_per_s: f64,
    /// Every timed repetition, steps/s.
    pub train_reps: Vec<f64>,
    pub infer_batch: usize,
    pub infer_examples_per_s: f64,
    /// Forward FLOPs of one example through the training graph, at the data's lengths.
    pub forward_flops_per_example: i64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Compiles, loads and measures `opts.file`.
pub fn bench_train_file(opts: &TrainBenchOptions) -> Result<TrainBench, String> {
    let mut sets = opts.sets.clone();
    sets.push(("batch_size".into(), opts.batch.to_string()));
    let c = compile(&FsLoader, &opts.file, &sets, true)
        .map_err(|f| crate::diag::render(&f.diagnostics, &f.sources, false))?;
    let plan = c
        .program
        .train
        .clone()
        .ok_or("the file has no train plan")?;
    let index = c
        .program
        .models
        .iter()
        .position(|m| m.name == plan.model)
        .ok_or("the plan's model is missing")?;
    let (model, shapes) = (&c.program.models[index], &c.shapes[index]);
    let spec = c
        .program
        .data_spec(&plan.data)
        .ok_or("the plan's data is missing")?;
    let data = crate::data::load(spec, Path::new("."))
        .map_err(|d| crate::diag::render(&d, &c.program.sources, false))?;
    let err = |e: candle_core::Error| e.to_string();
    let net =
        Network::build(model, shapes, &Device::Cpu, &mut SeededRng::new(plan.seed)).map_err(err)?;
    let objectives = Objectives::resolve(&plan, model)?;
    let (mut optimizers, assignment) =
        plan_optimizers(&plan, &net, &objectives).map_err(|e| e.to_string())?;
    let compiled = CompiledPlan::new(&net, &objectives, &assignment);
    // A pool of four batches, cycled.
    let pool: Vec<HashMap<String, Tensor>> = data
        .train
        .chunks(opts.batch)
        .filter(|c| c.len() == opts.batch)
        .take(4)
        .map(|idx| batch_inputs(&net, &data, idx))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if pool.is_empty() {
        return Err(format!(
            "the training split has fewer than {} examples",
            opts.batch
        ));
    }
    let mut rng = SeededRng::new(1);
    let mut counts = BTreeMap::new();
    let mut i = 0usize;
    let mut step = |n: usize| -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..n {
            let inputs = &pool[i % pool.len()];
            i += 1;
            let out = train_batch(
                &net,
                &compiled,
                &mut optimizers,
                plan.clip_norm,
                inputs,
                &mut rng,
                &mut counts,
            )
            .map_err(err)?;
            if let BatchOutcome::NonFinite { step, .. } = out {
                return Err(format!("step `{step}` diverged during the benchmark"));
            }
        }
        Ok(n as f64 / t.elapsed().as_secs_f64().max(1e-9))
    };
    step(opts.warmup)?;
    let train_reps: Vec<f64> = (0..opts.reps.max(1))
        .map(|_| step(opts.steps))
        .collect::<Result<_, _>>()?;
    // Prediction: the model's outputs only, at the inference batch size.
    let targets = crate::passes::mode::predict_targets(model);
    let infer = InferPlan::new(&net, &targets);
    let idx: Vec<usize> = data
        .train
        .iter()
        .copied()
        .cycle()
        .take(opts.infer_batch)
        .collect();
    let inputs = batch_inputs(&net, &data, &idx).map_err(|e| e.to_string())?;
    let predict = |n: usize| -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..n {
            net.infer(&infer, &inputs).map_err(err)?;
        }
        Ok((n * opts.infer_batch) as f64 / t.elapsed().as_secs_f64().max(1e-9))
    };
    predict(2)?;
    let infer_reps: Vec<f64> = (0..3).map(|_| predict(5)).collect::<Result<_, _>>()?;
    let env = crate::run::step_plan::data_lengths(&net, &pool[0]);
    let forward_flops = crate::summary::summarize(model, shapes, &env).flops;
    Ok(TrainBench {
        file: opts.file.clone(),
        model: model.name.clone(),
        params: net.n_trainable(),
        batch: opts.batch,
        threads: crate::nn::fused::gemm::threads(),
        train_steps_per_s: median(train_reps.clone()),
        train_reps,
        infer_batch: opts.infer_batch,
        infer_examples_per_s: median(infer_reps),
        forward_flops_per_example: forward_flops,
    })
}

pub fn format_train_bench(b: &TrainBench) -> String {
    let gflop =
        b.forward_flops_per_example as f64 * 3.0 * b.batch as f64 * b.train_steps_per_s / 1e9;
    format!(
        "{} ({}, {} parameters, {} thread(s)): training batch {} {:.2} steps/s ({:.0} examples/s, about {:.1} GFLOP/s at 3x forward FLOPs); prediction batch {} {:.0} examples/s\n",
        b.file,
        b.model,
        b.params,
        b.threads,
        b.batch,
        b.train_steps_per_s,
        b.train_steps_per_s * b.batch as f64,
        gflop,
        b.infer_batch,
        b.infer_examples_per_s
    )
}
