//! Checkpoint manifests: `checkpoints/<which>/manifest.json` records, for the model it belongs to (a
//! fingerprint of its checked IR), every file of the checkpoint with its size and SHA-256, and every tensor with
//! its dtype and shape. A checkpoint is loaded only after all of it is verified — the files against their
//! checksums, the fingerprint against the model being built, each tensor against the manifest and the model's
//! parameters, and every value for being finite — so a damaged, edited or foreign checkpoint is an error naming
//! the file, never weights silently converted or a model trained on NaN.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RunError;
use crate::check::Shapes;
use crate::ir::Model;

/// The format written; a manifest of another format is refused.
const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// [`fingerprint`] of the model the checkpoint was trained with.
    pub model: String,
    /// File name -> what it holds.
    pub files: BTreeMap<String, FileEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
    /// Tensor name -> dtype and shape (safetensors files only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tensors: BTreeMap<String, TensorEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TensorEntry {
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// The SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint of a checked model: the SHA-256 of its stable IR dump with types. Two models with the same
/// parameter shapes but another op anywhere (an activation, a dropout rate) differ.
pub fn fingerprint(model: &Model, shapes: &Shapes) -> String {
    sha256_hex(crate::ir::print::print_model(model, shapes).as_bytes())
}

/// The manifest of the checkpoint files in `dir` (already written), for `model`.
pub fn build(
    dir: &Path,
    files: &[&str],
    model: &Model,
    shapes: &Shapes,
) -> Result<Manifest, RunError> {
    let mut entries = BTreeMap::new();
    for name in files {
        let bytes = std::fs::read(dir.join(name))
            .map_err(|e| RunError::Io(format!("{}: {e}", dir.join(name).display())))?;
        let tensors = if name.ends_with(".safetensors") {
            tensor_entries(&bytes)
                .map_err(|e| RunError::Io(format!("{}: {e}", dir.join(name).display())))?
        } else {
            BTreeMap::new()
        };
        entries.insert(
            name.to_string(),
            FileEntry {
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                tensors,
            },
        );
    }
    Ok(Manifest {
        format: FORMAT,
        model: fingerprint(model, shapes),
        files: entries,
    })
}

fn tensor_entries(bytes: &[u8]) -> Result<BTreeMap<String, TensorEntry>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                TensorEntry {
                    dtype: format!("{:?}", view.dtype()),
                    shape: view.shape().to_vec(),
                },
            )
        })
        .collect())
}

/// Reads and checks `dir`'s manifest against `model`, and every file it lists against its size and checksum.
/// Returns the verified bytes of each file.
pub fn verify(
    dir: &Path,
    model: &Model,
    shapes: &Shapes,
) -> Result<BTreeMap<String, Vec<u8>>, RunError> {
    let path = dir.join("manifest.json");
    let damaged = |what: String| {
        RunError::Io(format!(
            "{what}; the checkpoint is damaged or was edited (train again, or resume from another copy)"
        ))
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        RunError::Io(format!(
            "{}: {e}; a checkpoint without a manifest cannot be verified (it was written by an older fusec, \
             or its writing was interrupted): train again",
            path.display()
        ))
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| damaged(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!(
            "{}: manifest format {} (this fusec reads {FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    if manifest.model != fingerprint(model, shapes) {
        return Err(RunError::Config(format!(
            "{} was trained with a different model than `{}` compiles to now (the file, an import, a `--set` or \
             the standard library changed); evaluate it with the file and settings it was trained with",
            dir.display(),
            model.name
        )));
    }
    let mut out = BTreeMap::new();
    for (name, entry) in &manifest.files {
        let file = dir.join(name);
        let bytes =
            std::fs::read(&file).map_err(|e| damaged(format!("{}: {e}", file.display())))?;
        if bytes.len() as u64 != entry.bytes || sha256_hex(&bytes) != entry.sha256 {
            return Err(damaged(format!(
                "{}: its contents do not match the checksum in {}",
                file.display(),
                path.display()
            )));
        }
        if !entry.tensors.is_empty() {
            let found =
                tensor_entries(&bytes).map_err(|e| damaged(format!("{}: {e}", file.display())))?;
            if found != entry.tensors {
                return Err(damaged(format!(
                    "{}: its tensors' dtypes or shapes differ from {}",
                    file.display(),
                    path.display()
                )));
            }
        }
        out.insert(name.clone(), bytes);
    }
    Ok(out)
}

/// Every float tensor must be finite: weights that went NaN would give NaN predictions that look like results.
/// (Dtypes are checked against the manifest, and weights against the model's parameters when they are set.)
pub fn check_tensor(file: &Path, name: &str, t: &Tensor) -> Result<(), RunError> {
    if !t.dtype().is_float() {
        return Ok(());
    }
    let values: Vec<f64> = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        return Err(RunError::Io(format!(
            "{}: `{name}` holds {bad} NaN or infinite value(s) (the first at index {i}); the run diverged \
             before this checkpoint was written, so it cannot be used",
            file.display()
        )));
    }
    Ok(())
}
