//! Parameter allocation and initialisation. Names are the IR's parameter paths (`fusion.enc1.weight`), so a
//! checkpoint (written by `run::tensor_files`) reads like the .fuse file.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Result, Var};

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
