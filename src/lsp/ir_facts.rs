//! What the checked IR knows about a piece of source: the values a call or an expression made (one per block
//! instance it was inlined into), their dtypes and symbolic shapes, and the trainable parameters behind them.
//! The IR keeps each node's source span and each block instance's call site, so a span of the syntax tree finds
//! its IR without any table kept for the editor.

use std::collections::BTreeSet;

use crate::check::Shapes;
use crate::front::Compiled;
use crate::ir::{BlockInstance, Model, NodeId, PortType, Value};
use crate::source::Span;

/// One thing the IR made from a piece of source.
pub struct Fact {
    /// The node's or instance's hierarchical path (`fusion`, `za.h`), prefixed by its model's name when the
    /// program has several models.
    pub path: String,
    /// `block Mlp`, or the op's name (`linear`).
    pub what: String,
    /// Output names (`""` for a single unnamed one) with their types (`f32[B, 64]`).
    pub outputs: Vec<(String, String)>,
    /// Trainable parameters (buffers excluded).
    pub params: i64,
}

/// Everything made at `span`: the block instances called there, then the nodes written there.
pub fn made_at(c: &Compiled, span: Span) -> Vec<Fact> {
    let mut facts = Vec::new();
    for (model, shapes) in c.program.models.iter().zip(&c.shapes) {
        let prefix = model_prefix(c, model);
        for inst in model.blocks.iter().filter(|b| b.call_site == span) {
            facts.push(instance_fact(model, shapes, inst, &prefix));
        }
        for id in model.graph.node_ids() {
            let node = model.graph.node(id);
            if node.span == span {
                facts.push(Fact {
                    path: format!("{prefix}{}", node.path),
                    what: node.op.name().to_string(),
                    outputs: node_outputs(shapes, id, node.op.n_outputs()),
                    params: owned_params(shapes, node.params.iter().map(String::as_str)),
                });
            }
        }
    }
    facts
}

/// The values bound to a block's tensor port (declared at `port_span`) in every instance of the block.
pub fn bound_to_port(c: &Compiled, port_span: Span) -> Vec<Fact> {
    let mut facts = Vec::new();
    for (model, shapes) in c.program.models.iter().zip(&c.shapes) {
        let prefix = model_prefix(c, model);
        for inst in &model.blocks {
            for port in inst.inputs.iter().filter(|p| p.span == port_span) {
                facts.push(Fact {
                    path: format!("{prefix}{}", inst.path),
                    what: format!("block {}", inst.block),
                    outputs: vec![(String::new(), port_type(shapes, port))],
                    params: 0,
                });
            }
        }
    }
    facts
}

/// Every instance of the block named `block` defined in the file `def_file`: one per call.
pub fn instances_of(c: &Compiled, block: &str, def_file: crate::source::FileId) -> Vec<Fact> {
    let mut facts = Vec::new();
    for (model, shapes) in c.program.models.iter().zip(&c.shapes) {
        let prefix = model_prefix(c, model);
        for inst in &model.blocks {
            // Two files may define blocks of one name; the ports' declarations say which definition it was.
            let same_def = inst.block == block
                && inst
                    .inputs
                    .iter()
                    .chain(&inst.outputs)
                    .all(|p| p.span.file == def_file);
            if same_def {
                facts.push(instance_fact(model, shapes, inst, &prefix));
            }
        }
    }
    facts
}

fn model_prefix(c: &Compiled, model: &Model) -> String {
    if c.program.models.len() > 1 {
        format!("{}.", model.name)
    } else {
        String::new()
    }
}

fn instance_fact(model: &Model, shapes: &Shapes, inst: &BlockInstance, prefix: &str) -> Fact {
    let inside = format!("{}.", inst.path);
    let owners: BTreeSet<&str> = model
        .graph
        .node_ids()
        .map(|id| model.graph.node(id))
        .filter(|n| n.path.starts_with(&inside))
        .filter_map(|n| n.params.as_deref())
        .collect();
    Fact {
        path: format!("{prefix}{}", inst.path),
        what: format!("block {}", inst.block),
        outputs: inst
            .outputs
            .iter()
            .map(|p| (p.name.clone(), port_type(shapes, p)))
            .collect(),
        params: owned_params(shapes, owners.into_iter()),
    }
}

/// The checked type of a port's value(s): one type, or a list for a variadic port.
fn port_type(shapes: &Shapes, port: &PortType) -> String {
    let types: Vec<String> = port.values.iter().map(|v| value_type(shapes, *v)).collect();
    match types.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

fn node_outputs(shapes: &Shapes, id: NodeId, n: usize) -> Vec<(String, String)> {
    (0..n.min(u16::MAX as usize))
        .map(|port| {
            let name = if n == 1 {
                String::new()
            } else {
                port.to_string()
            };
            (name, value_type(shapes, Value::new(id, port as u16)))
        })
        .collect()
}

fn value_type(shapes: &Shapes, v: Value) -> String {
    shapes
        .ty(v)
        .map_or_else(|| "?".to_string(), |t| t.to_string())
}

/// Trainable parameters of the given owners (each counted once, however many owners share it).
fn owned_params<'a>(shapes: &Shapes, owners: impl Iterator<Item = &'a str>) -> i64 {
    let owners: Vec<&str> = owners.collect();
    shapes
        .params()
        .iter()
        .filter(|(name, p)| {
            p.trainable
                && owners.iter().any(|o| {
                    name.as_str() == *o
                        || name
                            .strip_prefix(o)
                            .is_some_and(|rest| rest.starts_with('.'))
                })
        })
        .map(|(_, p)| p.shape.iter().fold(1i64, |a, d| a.saturating_mul(*d)))
        .fold(0i64, i64::saturating_add)
}
