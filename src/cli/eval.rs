//! `fusec eval`: evaluate a trained run's selected checkpoint on a split of the plan's data.

use std::path::PathBuf;

use clap::Args;

use super::run::run_error;
use super::session::{compile_for_training, device_or_report, Prepared};
use crate::backend::Network;
use crate::data::Dataset;
use crate::ir::TrainPlan;
use crate::run::robustness::describe;
use crate::run::{
    evaluate, robustness, robustness_cases, write_atomic, Checkpoint, Objectives, RunError,
};

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
    let Prepared {
        compiled,
        model_index,
        plan,
        mut data,
        ..
    } = match compile_for_training(&args.file, sets, json) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let sources = &compiled.program.sources;
    let indices = match args.split.as_str() {
        "train" => data.train.clone(),
        "valid" => data.valid.clone(),
        "test" => data.test.clone(),
        other => {
            let help = match crate::diag::did_you_mean(other, ["train", "valid", "test"]) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use `--split train`, `valid` or `test`".to_string(),
            };
            let d = crate::diag::Diagnostic::error(
                "fusec::cli::split",
                format!("unknown split `{other}`"),
            )
            .help(help);
            super::print_diagnostics(&d.into(), sources, json);
            return 1;
        }
    };
    let result = (|| -> Result<Vec<(String, f64)>, RunError> {
        let model = &compiled.program.models[model_index];
        let net = Checkpoint::restore_network(
            &args.checkpoint,
            args.last,
            model,
            &compiled.shapes[model_index],
            &device,
        )?;
        let objectives = Objectives::resolve(&plan, model).map_err(RunError::Config)?;
        if args.robustness {
            return robustness_table(args, &net, &mut data, &plan, &objectives, json)
                .map(|()| Vec::new());
        }
        Ok(evaluate(&net, &data, &indices, &plan, &objectives)?.metrics)
    })();
    if args.robustness {
        return match result {
            Ok(_) => 0,
            Err(e) => run_error(&e, sources, json),
        };
    }
    match result {
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
        Err(e) => run_error(&e, sources, json),
    }
}

/// Runs the robustness cases, prints the table (or one JSON object) and writes the CSV into the run directory.
fn robustness_table(
    args: &EvalArgs,
    net: &Network,
    data: &mut Dataset,
    plan: &TrainPlan,
    objectives: &Objectives,
    json: bool,
) -> Result<(), RunError> {
    let cases = robustness_cases(plan, &net.model);
    let table = robustness(net, data, &args.split, plan, objectives, &cases, plan.seed)?;
    let csv_path = args
        .checkpoint
        .join(format!("robustness_{}.csv", args.split));
    write_atomic(&csv_path, table.to_csv().as_bytes())?;
    if json {
        let rows: Vec<serde_json::Value> = table
            .rows
            .iter()
            .map(|r| {
                let (input, kind, level) = match &r.case {
                    None => ("none".to_string(), "none", None),
                    Some((f, p)) => {
                        let (kind, level) = describe(*p);
                        (f.clone(), kind, level.parse::<f64>().ok())
                    }
                };
                let metrics: serde_json::Map<String, serde_json::Value> =
                    r.metrics.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
                serde_json::json!({ "input": input, "perturbation": kind, "level": level, "metrics": metrics })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "split": args.split, "robustness": rows, "csv": csv_path })
        );
        return Ok(());
    }
    let shown: Vec<String> = if args.metric.is_empty() {
        // The task's first two metrics, and the loss, which moves even when the predictions do not.
        let names = table.metric_names();
        let task = names.iter().filter(|n| !n.starts_with("loss")).take(2);
        let loss = names.iter().find(|n| **n == "loss");
        task.chain(loss).map(|s| s.to_string()).collect()
    } else {
        args.metric.clone()
    };
    let measured = table.metric_names();
    if let Some(bad) = shown.iter().find(|m| !measured.contains(&m.as_str())) {
        let hint = crate::diag::did_you_mean(bad, measured.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(RunError::Config(format!(
            "--metric {bad}: not measured{hint}; measured: {} (every metric is in {})",
            measured.join(", "),
            csv_path.display()
        )));
    }
    print!("{}", table.render(&shown));
    println!("written to {}", csv_path.display());
    Ok(())
}
