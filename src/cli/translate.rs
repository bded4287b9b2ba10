//! `fusec translate`: translate new sentences (one per line) with a trained run (`api::translate`), greedy or
//! with beam search, and write one translation per line.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, TranslateRequest};
use crate::backend::DecodeOptions;

#[derive(Args, Debug, Clone)]
pub struct TranslateArgs {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    /// The run directory (its `checkpoints/best` and `vocab/`).
    #[arg(long, value_name = "RUNDIR")]
    pub checkpoint: PathBuf,
    /// Source sentences, one per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Visual features as a .npy array, row i for line i (models with a visual input).
    #[arg(long)]
    pub features: Option<PathBuf>,
    /// Beam size; 1 is greedy search.
    #[arg(long, default_value_t = 5)]
    pub beam: usize,
    /// Tokens generated at most per sentence.
    #[arg(long, default_value_t = 100)]
    pub max_len: usize,
    /// Length penalty: beam hypotheses are ranked by log-probability / length^alpha.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Where to write the translations (standard output if absent).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Use the last checkpoint instead of the selected one.
    #[arg(long)]
    pub last: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn translate(args: &TranslateArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let req = TranslateRequest {
        file: args.file.clone(),
        overrides: sets.to_vec(),
        run_dir: args.checkpoint.clone(),
        input: args.input.clone(),
        features: args.features.clone(),
        decode: DecodeOptions {
            beam: args.beam,
            max_len: args.max_len,
            alpha: args.alpha,
        },
        last: args.last,
        device,
    };
    match api::translate(&req, &mut Printer::new(json)) {
        Ok(out) => write_output(args.output.as_deref(), &out),
        Err(e) => report(&e, json),
    }
}

fn write_output(path: Option<&Path>, lines: &[String]) -> i32 {
    let mut text = lines.join("\n");
    text.push('\n');
    match path {
        None => {
            print!("{text}");
            0
        }
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", p.display());
                1
            }
        },
    }
}
