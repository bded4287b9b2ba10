//! `fusec compare`: train several model files with several seeds each (`api::compare`) and print one table —
//! method, parameters, FLOPs per example, train time, and the test metric as mean ± std over seeds — also written
//! as CSV and Markdown.

use std::path::PathBuf;

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, CompareRequest};

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Model files, each with a `train { }` plan.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Seeds, comma separated.
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// The test metric to compare (default: the plan's selection metric).
    #[arg(long)]
    pub metric: Option<String>,
    /// Folder for the runs and the table files (`compare.csv`, `compare.md`).
    #[arg(long, default_value = "runs/compare")]
    pub out: PathBuf,
    /// Replace the runs of an earlier comparison in `--out` (they are refused otherwise).
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Draw the comparison as bars with error bars into OUT/plots (as `fusec plot OUT`).
    #[arg(long)]
    pub plots: bool,
}

pub fn compare(args: &CompareArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let req = CompareRequest {
        files: args.files.clone(),
        seeds: args.seeds.clone(),
        metric: args.metric.clone(),
        out: args.out.clone(),
        overwrite: args.overwrite,
        device,
        overrides: sets.to_vec(),
    };
    let comparison = match api::compare(&req, &mut Printer::new(json)) {
        Ok(c) => c,
        Err(e) => return report(&e, json),
    };
    print!("{}", comparison.markdown());
    if let Err(e) = comparison.write(&args.out) {
        eprintln!("error: cannot write the comparison files: {e}");
        return 1;
    }
    println!(
        "written: {} and {}",
        args.out.join("compare.md").display(),
        args.out.join("compare.csv").display()
    );
    if args.plots {
        return super::plot::plots_into(&args.out, json);
    }
    0
}
