//! Saves and restores the per-field standardization fitted on the training split, so evaluation and prediction
//! on new inputs apply exactly the statistics the model was trained with.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::RunError;
use crate::data::Dataset;

pub const FILE: &str = "standardization.safetensors";

pub fn save_standardization(data: &Dataset, run_dir: &Path) -> Result<(), RunError> {
    let mut map: HashMap<String, Tensor> = HashMap::new();
    for (field, (mean, std)) in &data.standardization {
        map.insert(
            format!("{field}.mean"),
            Tensor::new(mean.as_slice(), &Device::Cpu)?,
        );
        map.insert(
            format!("{field}.std"),
            Tensor::new(std.as_slice(), &Device::Cpu)?,
        );
    }
    if map.is_empty() {
        return Ok(());
    }
    crate::run::save_tensors(&map, &run_dir.join(FILE))?;
    Ok(())
}

/// Field -> (mean, std) as saved by [`save_standardization`]; empty when the run standardized nothing.
pub fn load_standardization(
    run_dir: &Path,
) -> Result<HashMap<String, (Vec<f32>, Vec<f32>)>, RunError> {
    let path = run_dir.join(FILE);
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu)?;
    let mut out = HashMap::new();
    for (k, t) in &tensors {
        if let Some(field) = k.strip_suffix(".mean") {
            let std = tensors.get(&format!("{field}.std")).ok_or_else(|| {
                RunError::Io(format!("{}: `{field}.std` is missing", path.display()))
            })?;
            out.insert(
                field.to_string(),
                (t.to_vec1::<f32>()?, std.to_vec1::<f32>()?),
            );
        }
    }
    Ok(out)
}
