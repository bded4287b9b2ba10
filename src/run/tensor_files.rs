//! Tensors on disk: a network's parameters and other named tensors as safetensors files (checkpoints, optimizer
//! moments, standardization, predictions). Names are the IR's parameter paths, so a checkpoint loads in any
//! safetensors tool. The back end holds tensors; this stage moves them to and from files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};

/// Writes tensors atomically: to a temporary file in the same folder, then renamed over the target.
pub fn save_params(params: &BTreeMap<String, Var>, path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    save_tensors(&map, path)
}

pub fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(map, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Loads weights saved by [`save_params`] into existing variables. Every parameter must be present with the
/// same shape; extra tensors in the file are reported too, since they mean the file belongs to another model.
pub fn load_params(
    params: &BTreeMap<String, Var>,
    path: &Path,
    device: &Device,
) -> std::result::Result<(), String> {
    let loaded = candle_core::safetensors::load(path, device)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut problems = Vec::new();
    for (name, var) in params {
        match loaded.get(name) {
            None => problems.push(format!("missing tensor `{name}`")),
            Some(t) if t.dims() != var.dims() => problems.push(format!(
                "`{name}` has shape {:?} in the file, the model needs {:?}",
                t.dims(),
                var.dims()
            )),
            Some(t) => {
                if let Err(e) = var.set(&t.to_dtype(DType::F32).map_err(|e| e.to_string())?) {
                    problems.push(format!("`{name}`: {e}"));
                }
            }
        }
    }
    for name in loaded.keys().filter(|k| !params.contains_key(*k)) {
        problems.push(format!(
            "unexpected tensor `{name}` (not a parameter of this model)"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} does not fit this model: {}",
            path.display(),
            problems.join("; ")
        ))
    }
}
