//! `fusec export`: a trained model's prediction graph as an ONNX file, as bytes (the CLI writes them).
//!
//! [`onnx`] walks the prediction-mode graph (`passes::mode::inference_nodes` of the model's outputs, the graph
//! `fusec predict` runs: no losses, dropout and noise as identities) in topological order and asks each op for
//! its ONNX nodes (`Primitive::onnx`, next to the op's other facts in `src/ops/`). Weights become initializers;
//! each standardized input gets `Sub` / `Div` nodes with the run's training statistics, so the file takes raw
//! inputs; symbolic dims (`B`, `T`) stay symbolic (`dim_param`). Every op without a mapping is reported at
//! once, located at its use, and no bytes are produced then.

mod graph;
mod layers;
mod onnx_pb;
mod recurrent;

use std::collections::{BTreeMap, HashMap, HashSet};

use candle_core::Tensor;
use prost::Message;

pub use graph::{attr_float, attr_int, attr_ints, attr_str, ExportError, Mapped, OnnxCx};
pub use layers::{arg, attention, gelu, layer_norm, linear, positions, transformer_layer, Mask};
pub use recurrent::{export as recurrent_layers, Stack};

use crate::check::Shapes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Dim, Model, NodeId, TensorType, Value};
use crate::source::SourceMap;
use graph::GraphBuilder;
use onnx_pb::{
    Dimension, DimensionValue, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto,
    TypeProto, TypeTensor, ValueInfoProto,
};

/// The ONNX opset the mappings are written for (`LayerNormalization` needs 17).
pub const OPSET: i64 = 17;
/// The ONNX IR version of opset 17.
const IR_VERSION: i64 = 8;

/// What the exported graph is made from.
pub struct OnnxRequest<'a> {
    pub model: &'a Model,
    pub shapes: &'a Shapes,
    /// Every weight and buffer of the trained model by full name (a restored `Network`'s parameters).
    pub weights: &'a BTreeMap<String, Tensor>,
    /// Per standardized input: the training split's mean and standard deviation per feature.
    pub standardization: &'a HashMap<String, (Vec<f32>, Vec<f32>)>,
    /// The sources the model's spans point into (for the locations in diagnostics).
    pub sources: &'a SourceMap,
}

/// The model's prediction graph as a serialized ONNX `ModelProto`, or one diagnostic per op that has no ONNX
/// mapping.
pub fn onnx(req: &OnnxRequest<'_>) -> Result<Vec<u8>, Diagnostics> {
    let model = req.model;
    let order = model
        .graph
        .topo_order()
        .map_err(|_| internal("the model has a cycle".to_string()))?;
    let targets = crate::passes::mode::predict_targets(model);
    let (nodes, identities) = crate::passes::mode::inference_nodes(model, &order, &targets);
    let needed: HashSet<NodeId> = nodes.iter().copied().collect();
    let mut g = GraphBuilder::default();
    let mut values: HashMap<Value, String> = HashMap::new();
    let mut graph_inputs = Vec::new();
    for input in model.inputs.iter().filter(|i| needed.contains(&i.node)) {
        let ty = value_type(req.shapes, Value::new(input.node, 0))?;
        for (axis, d) in ty.dims.iter().enumerate() {
            if let Dim::Sym(s) = d {
                g.bind_symbol(s, &input.name, axis);
            }
        }
        graph_inputs.push(value_info(&input.name, ty));
        let value = match req.standardization.get(&input.name) {
            Some((mean, std)) => standardize(&mut g, &input.name, mean, std),
            None => input.name.clone(),
        };
        values.insert(Value::new(input.node, 0), value);
    }
    let mut diags = Diagnostics::default();
    for id in nodes {
        let node = model.graph.node(id);
        let operands = model.graph.operands(id);
        // An operand of an op that could not be exported: that op was reported already.
        let Some(args) = operands
            .iter()
            .map(|v| values.get(v).cloned())
            .collect::<Option<Vec<String>>>()
        else {
            continue;
        };
        let n_out = node.op.n_outputs();
        let outs = (0..n_out)
            .map(|p| value_type(req.shapes, Value::new(id, p as u16)).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        if identities.contains(&id) {
            if let Some(a) = args.first() {
                values.insert(Value::new(id, 0), a.clone());
            }
            continue;
        }
        let ins = operands
            .iter()
            .map(|v| value_type(req.shapes, *v).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        let input = values.get(&Value::new(id, 0)).cloned();
        let mut cx = OnnxCx {
            g: &mut g,
            node,
            ins,
            outs,
            weights: req.weights,
            input,
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match node.op.prim().onnx(&mut cx, &refs) {
            Ok(ports) => {
                for (p, v) in ports.into_iter().enumerate() {
                    values.insert(Value::new(id, p as u16), v);
                }
            }
            Err(ExportError::Unsupported(why)) => {
                diags.push(unsupported(model, id, &why, req.sources))
            }
            Err(ExportError::Internal(why)) => {
                diags.extend(internal(format!("exporting `{}`: {why}", node.path)))
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut graph_outputs = Vec::new();
    for o in &model.outputs {
        let v = values
            .get(&o.value)
            .ok_or_else(|| internal(format!("output `{}` was not computed", o.name)))?;
        // An Identity gives the output the name it has in the .fuse file (unless the value has it already: an
        // output that is a model input or a `param` of the same name).
        if *v != o.name {
            g.nodes.push(onnx_pb::NodeProto {
                input: vec![v.clone()],
                output: vec![o.name.clone()],
                name: format!("output/{}", o.name),
                op_type: "Identity".into(),
                ..Default::default()
            });
        }
        graph_outputs.push(value_info(&o.name, value_type(req.shapes, o.value)?));
    }
    let proto = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "fusec".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("the prediction graph of model `{}`", model.name),
        graph: Some(GraphProto {
            node: g.nodes,
            name: model.name.clone(),
            initializer: g.initializers,
            doc_string: String::new(),
            input: graph_inputs,
            output: graph_outputs,
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    };
    Ok(proto.encode_to_vec())
}

/// `(x - mean) / std` with the statistics as initializers (`api::predict` does the same in candle).
fn standardize(g: &mut GraphBuilder, name: &str, mean: &[f32], std: &[f32]) -> String {
    let m = g.init_f32(&format!("{name}.mean"), mean, &[mean.len() as i64]);
    let s = g.init_f32(&format!("{name}.std"), std, &[std.len() as i64]);
    let centered = g.node(
        "Sub",
        &format!("standardize/{name}"),
        &[name, &m],
        1,
        vec![],
    );
    let scaled = g.node(
        "Div",
        &format!("standardize/{name}"),
        &[&centered[0], &s],
        1,
        vec![],
    );
    scaled[0].clone()
}

fn value_type(shapes: &Shapes, v: Value) -> Result<&TensorType, Diagnostics> {
    shapes
        .ty(v)
        .ok_or_else(|| internal(format!("value {v:?} has no checked type")))
}

fn value_info(name: &str, ty: &TensorType) -> ValueInfoProto {
    let dim = ty
        .dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => DimensionValue::DimValue(*n),
                Dim::Sym(s) => DimensionValue::DimParam(s.clone()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: graph::elem_type(ty.dtype),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// "op `X` used at file:line has no ONNX export yet", labelled at the op and its call sites.
fn unsupported(model: &Model, id: NodeId, why: &str, sources: &SourceMap) -> Diagnostic {
    let node = model.graph.node(id);
    let (line, _) = sources.line_col(node.span);
    let file = sources
        .get(node.span.file)
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let mut d = Diagnostic::error(
        "fusec::export::unsupported",
        format!(
            "op `{}` used at {file}:{line} has no ONNX export yet",
            node.op.name()
        ),
    )
    .label(node.span, format!("in `{}`: {why}", node.path));
    if let Some(site) = node.call_sites.first() {
        d = d.label(*site, "in the block called here");
    }
    if let (true, Some(site)) = (node.call_sites.len() > 1, node.call_sites.last()) {
        d = d.label(*site, "called from here");
    }
    d.help("`fusec predict` runs this model; the ONNX file needs a mapping of the op in `src/ops/` (`Primitive::onnx`)")
}

fn internal(message: String) -> Diagnostics {
    Diagnostic::error("fusec::export::internal", message).into()
}
