//! The IR graph: a petgraph `StableDiGraph` of [`Node`]s whose edges are [`Operand`]s, wrapped so ids of nodes
//! cannot be confused with other integers.
//!
//! Invariants of a graph that lowering produced (checked by `verify`):
//! - every node has exactly the operands its op takes, numbered `0..n` without gaps, and each operand refers to an
//!   existing output port of its source node;
//! - the graph is acyclic;
//! - every node's `path` is unique, except nodes that apply a shared instance, which carry the same `params` path;
//! - `Model::inputs` are exactly the `Op::Input` nodes, in declaration order.

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

use super::op::Op;
use super::types::{DimExpr, Dtype};
use crate::source::Span;

/// A node of one model's graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(#[serde(serialize_with = "ser_index")] pub NodeIndex);

fn ser_index<S: serde::Serializer>(i: &NodeIndex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(i.index() as u32)
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0.index()
    }
}

/// One output port of one node: what an operand refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Value {
    pub node: NodeId,
    pub port: u16,
}

impl Value {
    pub fn new(node: NodeId, port: u16) -> Value {
        Value { node, port }
    }
}

/// Edge weight: the edge `src -> dst` feeds output `port` of `src` into operand `index` of `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Operand {
    pub index: u16,
    pub port: u16,
}

/// One operation with its provenance.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub op: Op,
    /// Hierarchical name, unique in the model: `fusion.enc1`, `g.0.l1`. Used in dumps and diagnostics.
    pub path: String,
    /// Owner of the parameters this node uses: equal to `path` for an ordinary layer, the instance path for an
    /// application of a `shared` instance (so several nodes use one set of weights). `None` if it owns none.
    pub params: Option<String>,
    /// Where the op is written (inside a block body, possibly in a stdlib file).
    pub span: Span,
    /// The call sites of the enclosing block instances, innermost first (for a second diagnostic label).
    pub call_sites: Vec<Span>,
    /// Index into `Model::blocks` of the innermost block instance this node belongs to.
    pub block: Option<usize>,
}

/// A directed acyclic graph of nodes. Thin wrapper so every accessor speaks `NodeId`.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub inner: StableDiGraph<Node, Operand>,
}

impl Graph {
    pub fn add_node(&mut self, node: Node) -> NodeId {
        NodeId(self.inner.add_node(node))
    }

    /// Connects `value` to operand `index` of `dst`.
    pub fn connect(&mut self, value: Value, dst: NodeId, index: u16) {
        self.inner.add_edge(
            value.node.0,
            dst.0,
            Operand {
                index,
                port: value.port,
            },
        );
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.inner[id.0]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.inner[id.0]
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.inner.contains_node(id.0)
    }

    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        self.inner.remove_node(id.0)
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.inner.node_indices().map(NodeId)
    }

    pub fn n_nodes(&self) -> usize {
        self.inner.node_count()
    }

    /// The operands of a node in operand order.
    pub fn operands(&self, id: NodeId) -> Vec<Value> {
        let mut ops: Vec<(u16, Value)> = self
            .inner
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| {
                (
                    e.weight().index,
                    Value {
                        node: NodeId(e.source()),
                        port: e.weight().port,
                    },
                )
            })
            .collect();
        ops.sort_by_key(|(i, _)| *i);
        ops.into_iter().map(|(_, v)| v).collect()
    }

    /// Nodes that read any output of `id`.
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .inner
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| NodeId(e.target()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Redirects every use of `from` to `to`.
    pub fn replace_uses(&mut self, from: Value, to: Value) {
        let edges: Vec<_> = self
            .inner
            .edges_directed(from.node.0, Direction::Outgoing)
            .filter(|e| e.weight().port == from.port)
            .map(|e| (e.id(), e.target(), e.weight().index))
            .collect();
        for (eid, target, index) in edges {
            self.inner.remove_edge(eid);
            self.inner.add_edge(
                to.node.0,
                target,
                Operand {
                    index,
                    port: to.port,
                },
            );
        }
    }

    /// A topological order that is stable: ties are broken by node index, so dumps never reorder.
    /// Returns `Err(node)` with a node on a cycle if there is one.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, NodeId> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut indeg: std::collections::HashMap<NodeIndex, usize> = self
            .inner
            .node_indices()
            .map(|n| (n, self.inner.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = indeg
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| Reverse(*n))
            .collect();
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(NodeId(n));
            for e in self.inner.edges_directed(n, Direction::Outgoing) {
                if let Some(d) = indeg.get_mut(&e.target()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse(e.target()));
                    }
                }
            }
        }
        if order.len() == self.inner.node_count() {
            Ok(order)
        } else {
            let stuck = indeg
                .into_iter()
                .filter(|(_, d)| *d > 0)
                .map(|(n, _)| n)
                .min();
            Err(NodeId(stuck.unwrap_or_default()))
        }
    }
}

/// A declared model input.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInput {
    pub name: String,
    pub node: NodeId,
    pub dtype: Dtype,
    pub dims: Vec<DimExpr>,
    pub span: Span,
}

/// A named output or loss of a model.
#[derive(Clone, Debug, Serialize)]
pub struct NamedValue {
    pub name: String,
    pub value: Value,
    pub span: Span,
}

/// One block instance, for DOT clusters and per-block summaries.
#[derive(Clone, Debug, Serialize)]
pub struct BlockInstance {
    /// Instance path (`fusion`, `fusion.g.0`).
    pub path: String,
    /// The block's name (`AutoFusion`).
    pub block: String,
    /// Enclosing instance, if nested.
    pub parent: Option<usize>,
    pub call_site: Span,
    /// Declared types of the tensor ports, bound to the values the call passed (added by lowering, for the
    /// checker to unify the actual types with).
    pub inputs: Vec<PortType>,
    /// Declared types of the block's outputs, bound to the values the body returned.
    pub outputs: Vec<PortType>,
}

/// A declared port type at one block call: `xs: f32[B, D]...` with the values bound to it.
///
/// Invariants (from lowering): `values` holds one value for an ordinary port and one per element (possibly
/// zero) for a variadic port; every value must have dtype `dtype` and exactly `dims.len()` dims, each equal to
/// the corresponding `DimExpr` once folded. Symbolic dims of the block are already resolved by lowering: the
/// first occurrence of a symbol `D` at port `x`, axis `i` is recorded as `DimExpr::Of { value: x, axis: i }`
/// (trivially true there) and every later occurrence refers to that same dim, so unifying means checking
/// equality. A symbol that occurs only in a variadic port is per element and recorded as `DimExpr::Any`.
/// `Sym` appears only for the model's own symbols (`B` written in a model body).
#[derive(Clone, Debug, Serialize)]
pub struct PortType {
    /// Port or output name (`""` for a single unnamed output).
    pub name: String,
    pub values: Vec<Value>,
    pub dtype: Dtype,
    pub dims: Vec<DimExpr>,
    /// The declaration in the block's signature.
    pub span: Span,
}

/// A model after lowering: one graph plus its interface.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub span: Span,
    pub graph: Graph,
    pub inputs: Vec<ModelInput>,
    pub outputs: Vec<NamedValue>,
    pub losses: Vec<NamedValue>,
    /// Scalar block outputs that a train step may name (`fusion.d_loss`), besides `losses`.
    pub named_scalars: Vec<NamedValue>,
    pub blocks: Vec<BlockInstance>,
}

impl Model {
    /// Looks up a loss by name, then a named block scalar (`fusion.d_loss`).
    pub fn loss_value(&self, name: &str) -> Option<Value> {
        self.losses
            .iter()
            .chain(self.named_scalars.iter())
            .find(|l| l.name == name)
            .map(|l| l.value)
    }

    pub fn output_value(&self, name: &str) -> Option<Value> {
        self.outputs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.value)
    }
}

impl ModelInput {
    /// The candle dtype of this input's tensors.
    pub fn dtype_candle(&self) -> candle_core::DType {
        match self.dtype {
            Dtype::F32 => candle_core::DType::F32,
            Dtype::F64 => candle_core::DType::F64,
            Dtype::I64 => candle_core::DType::I64,
            Dtype::U32 => candle_core::DType::U32,
            Dtype::Bool => candle_core::DType::U8,
        }
    }
}
