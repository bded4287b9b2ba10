//! The candle back end: turns a checked model (`ir::Model` + `check::Shapes`) into a [`Network`] whose
//! parameters live in candle `Var`s under the IR's hierarchical names, and runs it forward. Only checked IR
//! arrives here, so a failure in this module is a bug in fusec (or an out-of-memory), not a user error.

pub mod autodiff;
pub mod decode;
mod exec;
pub mod infer;
mod params;
mod precision;

pub use decode::{DecodeOptions, Hypothesis};
pub use exec::{axis, bug, Kernel, Mode, Outputs};

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Result, Var};

use crate::check::Shapes;
use crate::ir::{Model, NodeId, Value};
use crate::rng::SeededRng;

/// A model ready to run: its graph in execution order, and its parameters.
pub struct Network {
    pub model: Model,
    pub shapes: Shapes,
    /// Every parameter and buffer by full name, sorted.
    pub params: BTreeMap<String, Var>,
    pub device: Device,
    /// The dtype the passes compute in: f32, or bf16 under mixed precision (`set_precision`).
    compute: DType,
    order: Vec<NodeId>,
    operands: HashMap<NodeId, Vec<Value>>,
    /// Per node that owns or shares parameters: (suffix, full name) pairs.
    node_params: HashMap<NodeId, Vec<(String, String)>>,
    /// How a training step orders its nodes (`autodiff::parallel`).
    schedule: Schedule,
}

/// How [`Network::forward_tape`] and [`Network::backward`] order a step's nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// One after another on one thread, or as a dependency graph on the pool when it has several threads.
    #[default]
    Auto,
    /// On the calling thread, always running the ready node that comes *last* in the sequential order: the
    /// schedule least like the sequential one, so a test sees a missing ordering edge as changed numbers every
    /// time rather than by chance.
    LatestFirst,
}

impl Network {
    /// Allocates and initialises every parameter (PyTorch's initialisers) from `rng`, in name order, so the
    /// same seed always gives the same weights.
    pub fn build(
        model: &Model,
        shapes: &Shapes,
        device: &Device,
        rng: &mut SeededRng,
    ) -> Result<Network> {
        let order = model.graph.topo_order().map_err(|n| {
            candle_core::Error::Msg(format!(
                "internal: cycle at node {} reached the back end",
                n.index()
            ))
        })?;
        let operands = order
            .iter()
            .map(|n| (*n, model.graph.operands(*n)))
            .collect();
        let params = params::init_params(shapes, device, rng)?;
        let node_params = params::node_param_names(model, &params);
        Ok(Network {
            model: model.clone(),
            shapes: shapes.clone(),
            params,
            device: device.clone(),
            compute: DType::F32,
            order,
            operands,
            node_params,
            schedule: Schedule::Auto,
        })
    }

    /// Sets how training steps order their nodes (results are the same bits under every schedule).
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }

    /// Trainable parameters (buffers excluded), sorted by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params
            .iter()
            .filter(|(name, _)| {
                self.shapes
                    .param(name)
                    .map(|s| s.trainable)
                    .unwrap_or(false)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Number of trainable scalars.
    pub fn n_trainable(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The node a parameter belongs to (the first node that uses it), for diagnostics.
    pub fn param_owner(&self, name: &str) -> Option<NodeId> {
        self.order.iter().copied().find(|n| {
            self.node_params
                .get(n)
                .map(|ps| ps.iter().any(|(_, full)| full == name))
                .unwrap_or(false)
        })
    }
}
