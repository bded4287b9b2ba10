//! A small builder of models by hand, for unit tests of the checker, passes and printers that must not depend
//! on the parser, and for back-end tests that want one op in isolation.

use super::{DimExpr, Dtype, Graph, Model, ModelInput, NamedValue, Node, NodeId, Op, Value};
use crate::source::Span;

/// Builds a [`Model`] node by node; every node gets a default span and the path it is given.
pub struct ModelBuilder {
    model: Model,
}

impl ModelBuilder {
    pub fn new(name: &str) -> ModelBuilder {
        let model = Model {
            name: name.to_string(),
            span: Span::default(),
            graph: Graph::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            losses: Vec::new(),
            named_scalars: Vec::new(),
            blocks: Vec::new(),
        };
        ModelBuilder { model }
    }

    /// A model input; `dims` are written like the source: numbers or symbols (`"B"`).
    pub fn input(&mut self, name: &str, dtype: Dtype, dims: &[&str]) -> Value {
        let id = self.node(
            Op::Input(super::Input {
                name: name.to_string(),
            }),
            name,
            &[],
        );
        let dims = dims.iter().map(|d| dim(d)).collect();
        self.model.inputs.push(ModelInput {
            name: name.to_string(),
            node: id,
            dtype,
            dims,
            span: Span::default(),
        });
        Value::new(id, 0)
    }

    /// A node applying `op` to `operands`; layers own their parameters under `path`.
    pub fn op(&mut self, op: Op, path: &str, operands: &[Value]) -> Value {
        Value::new(self.node(op, path, operands), 0)
    }

    /// Like [`ModelBuilder::op`], returning the node for multi-port ops.
    pub fn node(&mut self, op: Op, path: &str, operands: &[Value]) -> NodeId {
        let params = if op.owns_params() {
            Some(path.to_string())
        } else {
            None
        };
        let node = Node {
            op,
            path: path.to_string(),
            params,
            span: Span::default(),
            call_sites: Vec::new(),
            block: None,
        };
        let id = self.model.graph.add_node(node);
        for (i, v) in operands.iter().enumerate() {
            self.model.graph.connect(*v, id, i as u16);
        }
        id
    }

    pub fn output(&mut self, name: &str, value: Value) {
        self.model.outputs.push(NamedValue {
            name: name.to_string(),
            value,
            span: Span::default(),
        });
    }

    pub fn loss(&mut self, name: &str, value: Value) {
        self.model.losses.push(NamedValue {
            name: name.to_string(),
            value,
            span: Span::default(),
        });
    }

    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    pub fn finish(self) -> Model {
        self.model
    }
}

/// `"64"` is a fixed dim, `"-1"` the inferred one, `"_"` any, anything else a symbol.
pub fn dim(s: &str) -> DimExpr {
    match s {
        "_" => DimExpr::Any,
        "-1" => DimExpr::Infer,
        _ => s
            .parse::<i64>()
            .map(DimExpr::Const)
            .unwrap_or_else(|_| DimExpr::Sym(s.to_string())),
    }
}
