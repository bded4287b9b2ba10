//! `fusec export`: a trained run's prediction graph as an ONNX file's bytes ([`export`]). The run is compiled
//! from its recorded sources and settings (no .fuse file needed), its selected checkpoint and standardization
//! are read, and `crate::export::onnx` builds the graph; writing the bytes is the caller's business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::prepare::compile_recorded;
use super::{Error, Reporter};
use crate::diag::{did_you_mean, Diagnostic};
use crate::export::OnnxRequest;
use crate::run::{load_standardization, Checkpoint, RunError};

/// The file formats `fusec export` writes.
pub const EXPORT_FORMATS: &[&str] = &["onnx"];

/// Which run to export.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    /// The run directory (its record, selected checkpoint and standardization).
    pub run_dir: PathBuf,
    /// `--set` overrides on top of the recorded ones (one that changes the model makes the checkpoint refuse
    /// to load).
    pub overrides: Vec<(String, String)>,
}

/// The ONNX bytes of the run's prediction graph, with the weights of its selected checkpoint and its
/// standardization as graph nodes (the file takes raw inputs).
pub fn export_onnx(req: &ExportRequest, rep: &mut dyn Reporter) -> Result<Vec<u8>, Error> {
    check_run_dir(&req.run_dir)?;
    let (record, sources) = crate::run::read_record(&req.run_dir)?;
    let mut overrides = record.override_pairs();
    for (k, v) in &req.overrides {
        overrides.retain(|(rk, _)| rk != k);
        overrides.push((k.clone(), v.clone()));
    }
    let compiled = compile_recorded(&record, &sources, &overrides, rep)?;
    let index = compiled
        .program
        .train
        .as_ref()
        .and_then(|p| {
            compiled
                .program
                .models
                .iter()
                .position(|m| m.name == p.model)
        })
        .unwrap_or(0);
    let (Some(model), Some(shapes)) = (
        compiled.program.models.get(index),
        compiled.shapes.get(index),
    ) else {
        return Err(Error::user(Diagnostic::error(
            "fusec::predict::no_model",
            format!("the run in {} records no model", req.run_dir.display()),
        )));
    };
    let net = Checkpoint::restore_network(&req.run_dir, false, model, shapes, &Device::Cpu)?;
    let weights: BTreeMap<String, Tensor> = net
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let standardization = load_standardization(&req.run_dir)?;
    if let Some(missing) = record
        .standardized
        .iter()
        .find(|f| !standardization.contains_key(*f))
    {
        return Err(Error::Run(RunError::Io(format!(
            "{}: the statistics of `{missing}` are missing, but the run standardized it",
            req.run_dir.join("standardization.safetensors").display()
        ))));
    }
    crate::export::onnx(&OnnxRequest {
        model,
        shapes,
        weights: &weights,
        standardization: &standardization,
        sources: &compiled.program.sources,
    })
    .map_err(|diagnostics| Error::User {
        diagnostics,
        sources: compiled.program.sources.clone(),
    })
}

/// A run directory that does not exist is a flag mistake: said so, with the closest sibling folder.
fn check_run_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let siblings: Vec<String> = std::fs::read_dir(&parent)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut d = Diagnostic::error(
        "fusec::cli::run_dir",
        format!("the run directory `{}` does not exist", dir.display()),
    );
    d = match did_you_mean(&name, siblings.iter().map(String::as_str)) {
        Some(close) => d.help(format!("did you mean `{}`?", parent.join(close).display())),
        None => d.help("give the directory `fusec run --out DIR` trained into"),
    };
    Err(Error::user(d))
}

/// The format of `--format`, or a diagnostic naming the formats (with the closest one).
pub fn export_format(flag: &str) -> Result<&'static str, Error> {
    if let Some(f) = EXPORT_FORMATS.iter().find(|f| f.eq_ignore_ascii_case(flag)) {
        return Ok(f);
    }
    let d = Diagnostic::error(
        "fusec::cli::format",
        format!("unknown export format `{flag}`"),
    );
    let help = match did_you_mean(&flag.to_ascii_lowercase(), EXPORT_FORMATS.iter().copied()) {
        Some(close) => format!(
            "did you mean `{close}`? (formats: {})",
            EXPORT_FORMATS.join(", ")
        ),
        None => format!("the formats are: {}", EXPORT_FORMATS.join(", ")),
    };
    Err(Error::user(d.help(help)))
}
