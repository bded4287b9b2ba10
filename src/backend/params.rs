//! Parameter allocation, initialisation and safetensors persistence. Names are the IR's parameter paths
//! (`fusion.enc1.weight`), so a checkpoint reads like the .fuse file and loads in any safetensors tool.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};

use crate::check::Shapes;
use crate::ir::{Model, NodeId};
use crate::rng::SeededRng;

pub(super) fn init_params(
    shapes: &Shapes,
    device: &Device,
    rng: &mut SeededRng,
) -> Result<BTreeMap<String, Var>> {
    let mut out = BTreeMap::new();
    for (name, spec) in shapes.params() {
        let shape: Vec<usize> = spec.shape.iter().map(|d| (*d).max(0) as usize).collect();
        let t = crate::nn::init_tensor(spec.init, &shape, rng, device)?;
        out.insert(name.clone(), Var::from_tensor(&t.to_dtype(DType::F32)?)?);
    }
    Ok(out)
}

/// For every node that uses parameters: the (suffix, full name) pairs of the parameters under its owner path.
pub(super) fn node_param_names(
    model: &Model,
    params: &BTreeMap<String, Var>,
) -> HashMap<NodeId, Vec<(String, String)>> {
    let mut out = HashMap::new();
    for id in model.graph.node_ids() {
        let Some(owner) = &model.graph.node(id).params else {
            continue;
        };
        let prefix = format!("{owner}.");
        let names: Vec<(String, String)> = params
            .keys()
            .filter_map(|full| {
                if full == owner {
                    Some((String::new(), full.clone()))
                } else {
                    full.strip_prefix(&prefix)
                        .map(|s| (s.to_string(), full.clone()))
                }
            })
            // A nested owner (`fusion.enc1` inside `fusion`) must not claim its children's weights: only
            // suffixes that the op itself declares are kept by the executor, which looks them up by suffix.
            .collect();
        out.insert(id, names);
    }
    out
}

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
