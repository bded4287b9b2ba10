//! `fusec eval`: evaluate a trained run's selected checkpoint on a split of the plan's data.

use std::path::PathBuf;

use clap::Args;

use super::{device_or_report, report, Printer};
use crate::api::{self, EvalRequest, Robustness};
use crate::run::robustness::describe;

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
    /// Also evaluate with each input removed or corrupted (the plan's `robustness = [...]`, or every float
    /// input zeroed, mean-imputed and noised at 0.1/0.5/1.0); prints a table and writes
    /// `RUNDIR/robustness_SPLIT.csv`.
    #[arg(long)]
    pub robustness: bool,
    /// Metrics shown in the robustness table (comma-separated); the CSV has all. Default: the task's first two.
    #[arg(long, value_delimiter = ',')]
    pub metric: Vec<String>,
}

pub fn eval(args: &EvalArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let req = EvalRequest {
        file: args.file.clone(),
        overrides: sets.to_vec(),
        run_dir: args.checkpoint.clone(),
        split: args.split.clone(),
        last: args.last,
        device,
    };
    let mut printer = Printer::new(json);
    if args.robustness {
        return match api::eval_robustness(&req, &mut printer)
            .and_then(|r| print_robustness(args, &r, json))
        {
            Ok(()) => 0,
            Err(e) => report(&e, json),
        };
    }
    match api::eval(&req, &mut printer) {
        Ok(metrics) => {
            if json {
                let obj: serde_json::Map<String, serde_json::Value> = metrics
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "split": args.split, "metrics": obj })
                );
            } else {
                println!("{:<24} {:>12}", "metric", args.split);
                for (k, v) in &metrics {
                    println!("{k:<24} {v:>12.4}");
                }
            }
            0
        }
        Err(e) => report(&e, json),
    }
}

/// Prints the robustness table (or one JSON object) and where its CSV went.
fn print_robustness(args: &EvalArgs, r: &Robustness, json: bool) -> Result<(), api::Error> {
    if json {
        let rows: Vec<serde_json::Value> = r
            .table
            .rows
            .iter()
            .map(|row| {
                let (input, kind, level) = match &row.case {
                    None => ("none".to_string(), "none", None),
                    Some((f, p)) => {
                        let (kind, level) = describe(*p);
                        (f.clone(), kind, level.parse::<f64>().ok())
                    }
                };
                let metrics: serde_json::Map<String, serde_json::Value> =
                    row.metrics.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
                serde_json::json!({ "input": input, "perturbation": kind, "level": level, "metrics": metrics })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "split": args.split, "robustness": rows, "csv": r.csv })
        );
        return Ok(());
    }
    let shown = r.shown_metrics(&args.metric)?;
    print!("{}", r.table.render(&shown));
    println!("written to {}", r.csv.display());
    Ok(())
}
