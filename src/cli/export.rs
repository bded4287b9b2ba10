//! `fusec export RUNDIR --format onnx --output model.onnx`: a trained run's prediction graph as a file
//! (`api::export_onnx`); this is the one place the bytes are written.

use std::path::PathBuf;

use clap::Args;

use super::{report, Printer};
use crate::api::{self, ExportRequest};

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// The run directory (`fusec run --out DIR`).
    pub run_dir: PathBuf,
    /// The file format: `onnx`.
    #[arg(long, default_value = "onnx")]
    pub format: String,
    /// Where to write the file.
    #[arg(long)]
    pub output: PathBuf,
}

pub fn export(args: &ExportArgs, sets: &[(String, String)], json: bool) -> i32 {
    let req = ExportRequest {
        run_dir: args.run_dir.clone(),
        overrides: sets.to_vec(),
    };
    let bytes = api::export_format(&args.format)
        .and_then(|_| api::export_onnx(&req, &mut Printer::new(json)));
    let written = bytes.and_then(|b| {
        crate::run::write_atomic(&args.output, &b)
            .map(|_| b.len())
            .map_err(api::Error::Run)
    });
    match written {
        Ok(n) => {
            println!(
                "wrote the prediction graph of {} to {} ({n} bytes, ONNX opset {})",
                args.run_dir.display(),
                args.output.display(),
                crate::export::OPSET
            );
            0
        }
        Err(e) => report(&e, json),
    }
}
