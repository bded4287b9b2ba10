//! Translating new sentences (one per line) with a trained run's checkpoint and its saved vocabularies, greedy
//! or with beam search, optionally with visual features aligned by line ([`translate`]).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::{compile_file, Error, Reporter};
use crate::backend::DecodeOptions;
use crate::diag::Diagnostic;
use crate::run::{translate_lines, Checkpoint, RunError};

/// Which run, which sentences, how to search.
#[derive(Clone, Debug)]
pub struct TranslateRequest {
    /// The .fuse file the run was trained from.
    pub file: PathBuf,
    /// `--set` overrides; when empty, the ones recorded in the run's `config.json` are used, so the model is
    /// compiled as it was trained.
    pub overrides: Vec<(String, String)>,
    /// The run directory (its checkpoints and `vocab/`).
    pub run_dir: PathBuf,
    /// Source sentences, one per line.
    pub input: PathBuf,
    /// Visual features as a .npy array, row i for line i (models with a visual input).
    pub features: Option<PathBuf>,
    pub decode: DecodeOptions,
    /// The last checkpoint instead of the selected one.
    pub last: bool,
    pub device: Device,
}

fn read_inputs(
    req: &TranslateRequest,
) -> Result<(Vec<String>, Option<crate::data::npy::RawArray>), RunError> {
    let text = std::fs::read_to_string(&req.input)
        .map_err(|e| RunError::Io(format!("cannot read `{}`: {e}", req.input.display())))?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let features = match &req.features {
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

/// The translation of every input line, in order.
pub fn translate(req: &TranslateRequest, rep: &mut dyn Reporter) -> Result<Vec<String>, Error> {
    let path = req.file.to_string_lossy().to_string();
    let overrides = if req.overrides.is_empty() {
        run_overrides(&req.run_dir)
    } else {
        req.overrides.clone()
    };
    let compiled = compile_file(&path, &overrides, true, rep)?;
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
        return Err(Error::User {
            diagnostics: d.into(),
            sources: program.sources.clone(),
        });
    };
    let (lines, features) = read_inputs(req)?;
    let net = Checkpoint::restore_network(
        &req.run_dir,
        req.last,
        &program.models[index],
        &compiled.shapes[index],
        &req.device,
    )?;
    let opts = DecodeOptions {
        beam: req.decode.beam.max(1),
        max_len: req.decode.max_len.max(1),
        alpha: req.decode.alpha,
    };
    Ok(translate_lines(
        &net,
        plan,
        spec,
        &req.run_dir,
        &lines,
        features.as_ref(),
        &opts,
    )?)
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
