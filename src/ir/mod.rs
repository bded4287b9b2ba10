//! The intermediate representation: lowered, fully instantiated models (one petgraph graph each) plus the data
//! and training declarations. Lowering (`crate::lower`) produces a [`Program`]; the checker (`crate::check`)
//! turns it into shapes; passes rewrite it; the back end executes it.

pub mod build;
pub mod dot;
pub mod graph;
pub mod op;
pub mod plan;
pub mod print;
pub mod tokens;
pub mod types;
pub mod verify;

pub use graph::{
    BlockInstance, Graph, Model, ModelInput, NamedValue, Node, NodeId, Operand, PortType, Value,
};
pub use op::*;
pub use plan::*;
pub use types::{Dim, DimExpr, Dtype, TensorType, ValueTypes};

use crate::source::SourceMap;

/// A whole compiled file: its models, data sets and (at most one) training plan, with the sources they came from.
#[derive(Clone, Debug)]
pub struct Program {
    pub models: Vec<Model>,
    pub data: Vec<DataSpec>,
    pub train: Option<TrainPlan>,
    pub sources: SourceMap,
}

impl Program {
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn data_spec(&self, name: &str) -> Option<&DataSpec> {
        self.data.iter().find(|d| d.name == name)
    }
}
