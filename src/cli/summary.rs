//! `fusec summary FILE [--model NAME] [--dim T=50]`: the Keras-style table of one model.

use std::collections::HashMap;

use clap::Args;

use super::{report, Printer};
use crate::api;
use crate::summary::summarize;

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    pub file: String,
    /// The model to summarise (default: the train plan's model, else the first).
    #[arg(long)]
    pub model: Option<String>,
    /// A size for a symbolic dim in the FLOP counts, e.g. `--dim T=50` (unbound dims count as 1).
    #[arg(long = "dim", value_name = "SYM=N", value_parser = parse_dim)]
    pub dims: Vec<(String, i64)>,
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
    let model = &compiled.program.models[i];
    let env: HashMap<String, i64> = args.dims.iter().cloned().collect();
    let Some(shapes) = compiled.shapes.get(i) else {
        return 2;
    };
    print!("{}", summarize(model, shapes, &env).render());
    0
}
