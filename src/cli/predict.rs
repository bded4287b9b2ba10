//! `fusec predict`: run a trained model on new inputs (`api::predict`) and write every output
//! (`api::write_predictions`: safetensors, .npz, or CSV with one row per example).

use std::path::PathBuf;

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, PredictRequest};

#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    /// The run directory.
    #[arg(long, value_name = "RUNDIR")]
    pub checkpoint: PathBuf,
    /// Inputs: a .safetensors or .npz file with one tensor per model input (labels may be left out).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the outputs: .safetensors, .npz or .csv.
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn predict(args: &PredictArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let req = PredictRequest {
        file: args.file.clone(),
        overrides: sets.to_vec(),
        run_dir: args.checkpoint.clone(),
        input: args.input.clone(),
        device,
    };
    let written = api::predict(&req, &mut Printer::new(json))
        .and_then(|p| api::write_predictions(&p, &args.output));
    match written {
        Ok(n) => {
            println!(
                "wrote predictions for {n} example(s) to {}",
                args.output.display()
            );
            0
        }
        Err(e) => report(&e, json),
    }
}
