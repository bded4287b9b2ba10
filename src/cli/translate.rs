//! `fusec translate`: translate new sentences (one per line) with a trained run's selected checkpoint and its
//! saved vocabularies, greedy or with beam search, optionally with visual features aligned by line.

use std::path::{Path, PathBuf};

use clap::Args;

use super::run::run_error;
use super::session::device_or_report;
use super::{print_diagnostics, FsLoader};
use crate::backend::DecodeOptions;
use crate::diag::Diagnostic;
use crate::front::compile;
use crate::run::{translate_lines, Checkpoint, RunError};

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
    #[arg(long, default_value_t = 5, value_parser = super::at_least_one)]
    pub beam: usize,
    /// Tokens generated at most per sentence.
    #[arg(long, default_value_t = 100, value_parser = super::at_least_one)]
    pub max_len: usize,
    /// Length penalty: beam hypotheses are ranked by log-probability / length^alpha.
    #[arg(long, default_value_t = 1.0, value_parser = super::finite_non_negative)]
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

fn read_inputs(
    args: &TranslateArgs,
) -> Result<(Vec<String>, Option<crate::data::npy::RawArray>), RunError> {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| RunError::Io(format!("cannot read `{}`: {e}", args.input.display())))?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let features = match &args.features {
        None => None,
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| RunError::Io(format!("cannot read `{}`: {e}", p.display())))?;
            let raw = crate::data::npy::parse_npy(&bytes)
                .map_err(|m| RunError::Config(format!("`{}`: {m}", p.display())))?;
            Some(raw)
        }
    };
    Ok((lines, features))
}

pub fn translate(args: &TranslateArgs, sets: &[(String, String)], json: bool) -> i32 {
    let device = match device_or_report(&args.device, json) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let path = args.file.to_string_lossy().to_string();
    // The model must be compiled with the run's `--set` overrides; without new ones, reuse the run's.
    let saved = if sets.is_empty() {
        run_overrides(&args.checkpoint)
    } else {
        sets.to_vec()
    };
    let compiled = match compile(&FsLoader, &path, &saved, true) {
        Ok(c) => c,
        Err(failed) => {
            print_diagnostics(&failed.diagnostics, &failed.sources, json);
            return 1;
        }
    };
    let sources = &compiled.program.sources;
    let program = &compiled.program;
    let found = program.train.as_ref().and_then(|plan| {
        let i = program.models.iter().position(|m| m.name == plan.model)?;
        Some((plan, i, program.data_spec(&plan.data)?))
    });
    let Some((plan, index, spec)) = found else {
        let d = Diagnostic::error(
            "fusec::train::missing",
            format!("`{path}` has no train plan with a model and data"),
        )
        .help("translate with the file the run was trained from");
        print_diagnostics(&d.into(), sources, json);
        return 1;
    };
    let result = (|| -> Result<Vec<String>, RunError> {
        let (lines, features) = read_inputs(args)?;
        let model = &program.models[index];
        let net = Checkpoint::restore_network(
            &args.checkpoint,
            args.last,
            model,
            &compiled.shapes[index],
            &device,
        )?;
        let opts = DecodeOptions {
            beam: args.beam.max(1),
            max_len: args.max_len.max(1),
            alpha: args.alpha,
        };
        translate_lines(
            &net,
            plan,
            spec,
            &args.checkpoint,
            &lines,
            features.as_ref(),
            &opts,
        )
    })();
    match result {
        Ok(out) => write_output(args.output.as_deref(), &out),
        Err(e) => run_error(&e, sources, json),
    }
}

/// The `--set` overrides recorded in the run's `config.json` (none if it cannot be read).
fn run_overrides(run_dir: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(run_dir.join("config.json")) else {
        return Vec::new();
    };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let list = config["overrides"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(|v| v.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
