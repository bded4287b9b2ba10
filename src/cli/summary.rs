//! `fusec summary FILE [--model NAME] [--dim T=50] [--mode MODE]`: the Keras-style table of one model (or of one
//! mode's graph), FLOPs at the lengths the data section declares, and the FLOPs of every mode.

use clap::Args;

use super::{report, Printer};
use crate::api;

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    pub file: String,
    /// The model to summarise (default: the train plan's model, else the first).
    #[arg(long)]
    pub model: Option<String>,
    /// A size for a symbolic dim in the FLOP counts, e.g. `--dim T=50`; overrides the size the data section
    /// declares (dims bound by neither count as 1).
    #[arg(long = "dim", value_name = "SYM=N", value_parser = parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// Summarise only what one mode computes: `train`, `train:STEP`, `eval` or `predict`.
    #[arg(long)]
    pub mode: Option<String>,
}

fn parse_dim(s: &str) -> Result<(String, i64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SYM=N (for example `--dim T=50`)"))?;
    let n = v
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("`{v}` in `--dim {s}` is not a whole number"))?;
    if n <= 0 {
        return Err(format!("`--dim {s}`: a dim must be positive"));
    }
    Ok((k.trim().to_string(), n))
}

pub fn run(args: &SummaryArgs, sets: &[(String, String)], json: bool) -> i32 {
    let compiled = match api::compile_file(&args.file, sets, false, &mut Printer::new(json)) {
        Ok(c) => c,
        Err(e) => return report(&e, json),
    };
    let i = match api::pick_model(&compiled.program, args.model.as_deref()) {
        Ok(i) => i,
        Err(e) => return report(&e, json),
    };
    let mode = match args.mode.as_deref().map(api::parse_mode).transpose() {
        Ok(m) => m,
        Err(e) => return report(&e, json),
    };
    match api::summary_text(&compiled, i, mode.as_ref(), &args.dims) {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => report(&e, json),
    }
}
