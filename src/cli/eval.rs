//! `fusec eval`: evaluate a trained run's selected checkpoint on a split of the plan's data.

use std::path::PathBuf;

use clap::Args;

use super::run::run_error;
use super::session::{compile_for_training, device_from_flag, Prepared};
use crate::backend::Network;
use crate::rng::SeededRng;
use crate::run::{evaluate, Checkpoint, Objectives, RunError};

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    /// The run directory (its `checkpoints/best`, or `checkpoints/last` with `--last`).
    #[arg(long, value_name = "RUNDIR")]
    pub checkpoint: PathBuf,
    /// `train`, `valid` or `test`.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Use the last checkpoint instead of the selected one.
    #[arg(long)]
    pub last: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn eval(args: &EvalArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_from_flag(&args.device) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("error: {msg}");
            return 1;
        }
    };
    let Prepared { compiled, model_index, plan, data, .. } = match compile_for_training(&args.file, sets, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let sources = &compiled.program.sources;
    let indices = match args.split.as_str() {
        "train" => &data.train,
        "valid" => &data.valid,
        "test" => &data.test,
        other => {
            eprintln!("error: unknown split `{other}`; use train, valid or test");
            return 1;
        }
    };
    let result = (|| -> Result<Vec<(String, f64)>, RunError> {
        let model = &compiled.program.models[model_index];
        let net = Network::build(model, &compiled.shapes[model_index], &device, &mut SeededRng::new(plan.seed))?;
        let which = if args.last { "last" } else { "best" };
        let dir = Checkpoint::find(&args.checkpoint, which).ok_or_else(|| {
            RunError::Io(format!("{} has no `checkpoints/{which}`; is it a run directory of `fusec run`?", args.checkpoint.display()))
        })?;
        Checkpoint::load(&dir, &net, None)?;
        let objectives = Objectives::resolve(&plan, model).map_err(RunError::Config)?;
        Ok(evaluate(&net, &data, indices, &plan, &objectives)?.metrics)
    })();
    match result {
        Ok(metrics) => {
            if json {
                let obj: serde_json::Map<String, serde_json::Value> =
                    metrics.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
                println!("{}", serde_json::json!({ "split": args.split, "metrics": obj }));
            } else {
                println!("{:<24} {:>12}", "metric", args.split);
                for (k, v) in &metrics {
                    println!("{k:<24} {v:>12.4}");
                }
            }
            0
        }
        Err(e) => run_error(&e, sources, json),
    }
}
