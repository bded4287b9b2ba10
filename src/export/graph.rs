//! The ONNX graph under construction ([`GraphBuilder`]: nodes, initializers, fresh value names, runtime sizes)
//! and what one op's mapping sees of it ([`OnnxCx`]: its operand and output types, its weights, helpers to add
//! nodes and constants). Op mappings (`Primitive::onnx` in `src/ops/`) speak only to `OnnxCx`.

use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;

use super::onnx_pb::{attribute_type, data_type, AttributeProto, NodeProto, TensorProto};
use crate::ir::{Dim, DimExpr, Node, TensorType};

/// Why an op cannot be exported: not mapped (a located diagnostic for the user) or a broken invariant (a bug).
#[derive(Clone, Debug, PartialEq)]
pub enum ExportError {
    /// The op, or this use of it, has no ONNX mapping yet; the text says what is missing.
    Unsupported(String),
    /// Something that cannot happen for a checked model (a missing weight, an operand without a type).
    Internal(String),
}

impl From<candle_core::Error> for ExportError {
    fn from(e: candle_core::Error) -> Self {
        ExportError::Internal(e.to_string())
    }
}

/// What an op mapping returns: one ONNX value name per output port.
pub type Mapped = Result<Vec<String>, ExportError>;

/// The nodes and initializers emitted so far.
#[derive(Default)]
pub struct GraphBuilder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    /// Counter for fresh value names.
    fresh: usize,
    /// Initializers made from named weights, by full weight name (a shared layer's weights are stored once).
    weights: HashMap<String, String>,
    /// Where each symbolic size can be read at run time: (graph input, axis).
    symbols: HashMap<String, (String, usize)>,
    /// Runtime sizes already computed, by symbol: an int64 `[1]` value.
    symbol_values: HashMap<String, String>,
}

impl GraphBuilder {
    /// Records that symbol `name` is axis `axis` of graph input `input` (the first such input wins).
    pub fn bind_symbol(&mut self, name: &str, input: &str, axis: usize) {
        self.symbols
            .entry(name.to_string())
            .or_insert_with(|| (input.to_string(), axis));
    }

    /// A value name not used before, readable in tools: `{hint}_{n}`.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.fresh += 1;
        format!("{hint}_{}", self.fresh)
    }

    /// Adds a node with `n_out` fresh outputs and returns their names.
    pub fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        n_out: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let base = self.fresh(&format!("{name}/{op_type}"));
        let outputs: Vec<String> = (0..n_out).map(|i| format!("{base}:{i}")).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.clone(),
            name: base,
            op_type: op_type.to_string(),
            attribute: attrs,
            doc_string: String::new(),
        });
        outputs
    }

    /// Adds an f32 initializer and returns its name.
    pub fn init_f32(&mut self, hint: &str, data: &[f32], dims: &[i64]) -> String {
        let name = self.fresh(hint);
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor(&name, data_type::FLOAT, dims, raw));
        name
    }

    /// Adds an int64 initializer and returns its name.
    pub fn init_i64(&mut self, hint: &str, data: &[i64], dims: &[i64]) -> String {
        let name = self.fresh(hint);
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor(&name, data_type::INT64, dims, raw));
        name
    }

    /// Adds a named initializer as given (`dims` empty for a scalar) and returns its name.
    pub fn push_initializer(&mut self, t: TensorProto) {
        self.initializers.push(t);
    }
}

fn tensor(name: &str, dtype: i32, dims: &[i64], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: dtype,
        name: name.to_string(),
        raw_data: raw,
    }
}

/// One op's view of the export: its node, operand and output types, and weights.
pub struct OnnxCx<'a> {
    pub(super) g: &'a mut GraphBuilder,
    pub(super) node: &'a Node,
    pub(super) ins: Vec<TensorType>,
    pub(super) outs: Vec<TensorType>,
    /// Every weight and buffer of the trained model, by full name.
    pub(super) weights: &'a BTreeMap<String, Tensor>,
    /// The graph value of a model input node (after standardization).
    pub(super) input: Option<String>,
}

impl OnnxCx<'_> {
    /// Adds a node with one output.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let mut out = self.op_n(op_type, inputs, 1, attrs);
        out.pop().unwrap_or_default()
    }

    /// Adds a node with `n` outputs.
    pub fn op_n(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let path = self.node.path.clone();
        self.g.node(op_type, &path, inputs, n, attrs)
    }

    /// Operand `i`'s checked type.
    pub fn in_type(&self, i: usize) -> Result<&TensorType, ExportError> {
        self.ins
            .get(i)
            .ok_or_else(|| ExportError::Internal(format!("operand {i} has no type")))
    }

    /// Output port `i`'s checked type.
    pub fn out_type(&self, i: usize) -> Result<&TensorType, ExportError> {
        self.outs
            .get(i)
            .ok_or_else(|| ExportError::Internal(format!("output {i} has no type")))
    }

    /// How many operands the op has.
    pub fn n_operands(&self) -> usize {
        self.ins.len()
    }

    /// Operand `i`'s rank.
    pub fn rank(&self, i: usize) -> Result<usize, ExportError> {
        Ok(self.in_type(i)?.rank())
    }

    /// The graph value of the model input this node is.
    pub fn model_input(&self) -> Mapped {
        match &self.input {
            Some(v) => Ok(vec![v.clone()]),
            None => Err(ExportError::Internal(
                "an input node that is no graph input".into(),
            )),
        }
    }

    /// The full name of the node's weight `suffix` (`""` for a `param(...)` node).
    fn weight_name(&self, suffix: &str) -> Result<String, ExportError> {
        let owner = self.node.params.as_ref().ok_or_else(|| {
            ExportError::Internal(format!("`{}` owns no parameters", self.node.path))
        })?;
        Ok(if suffix.is_empty() {
            owner.clone()
        } else {
            format!("{owner}.{suffix}")
        })
    }

    /// Weight `suffix` as f32 values (row-major) and its dims.
    pub fn weight_values(&self, suffix: &str) -> Result<(Vec<f32>, Vec<usize>), ExportError> {
        let name = self.weight_name(suffix)?;
        let t = self
            .weights
            .get(&name)
            .ok_or_else(|| ExportError::Internal(format!("the weight `{name}` is missing")))?;
        let dims = t.dims().to_vec();
        let values = t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok((values, dims))
    }

    /// Whether the node has weight `suffix` (an optional bias).
    pub fn has_weight(&self, suffix: &str) -> bool {
        self.weight_name(suffix)
            .is_ok_and(|n| self.weights.contains_key(&n))
    }

    /// Weight `suffix` as an initializer, stored once however many nodes share it.
    pub fn weight(&mut self, suffix: &str) -> Result<String, ExportError> {
        let name = self.weight_name(suffix)?;
        if let Some(v) = self.g.weights.get(&name) {
            return Ok(v.clone());
        }
        let (values, dims) = self.weight_values(suffix)?;
        let dims: Vec<i64> = dims.iter().map(|d| *d as i64).collect();
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.g
            .push_initializer(tensor(&name, data_type::FLOAT, &dims, raw));
        self.g.weights.insert(name.clone(), name.clone());
        Ok(name)
    }

    /// A 2-D weight `suffix` (`[out, in]`), transposed to `[in, out]` for `MatMul`, stored once.
    pub fn weight_transposed(&mut self, suffix: &str) -> Result<String, ExportError> {
        let key = format!("{}^T", self.weight_name(suffix)?);
        if let Some(v) = self.g.weights.get(&key) {
            return Ok(v.clone());
        }
        let (values, dims) = self.weight_values(suffix)?;
        let &[rows, cols] = dims.as_slice() else {
            return Err(ExportError::Internal(format!(
                "weight `{key}` is not a matrix"
            )));
        };
        let t = transpose(&values, rows, cols);
        let name = self.g.init_f32(&key, &t, &[cols as i64, rows as i64]);
        self.g.weights.insert(key, name.clone());
        Ok(name)
    }

    /// An f32 initializer.
    pub fn floats(&mut self, hint: &str, data: &[f32], dims: &[i64]) -> String {
        self.g.init_f32(hint, data, dims)
    }

    /// An f32 scalar (rank 0) constant.
    pub fn scalar(&mut self, v: f32) -> String {
        self.g.init_f32("scalar", &[v], &[])
    }

    /// A 1-D int64 constant.
    pub fn ints(&mut self, values: &[i64]) -> String {
        self.g.init_i64("ints", values, &[values.len() as i64])
    }

    /// An int64 scalar (rank 0) constant.
    pub fn int_scalar(&mut self, v: i64) -> String {
        self.g.init_i64("int", &[v], &[])
    }

    /// A size at run time as an int64 `[1]` value: a number, or a symbol read from the graph input that has it.
    pub fn dim(&mut self, d: &Dim) -> Result<String, ExportError> {
        match d {
            Dim::Fixed(n) => Ok(self.ints(&[*n])),
            Dim::Sym(s) => self.symbol(s),
        }
    }

    /// A size attribute (after checking: a number, a symbol, or arithmetic of them) at run time.
    pub fn dim_expr(&mut self, e: &DimExpr) -> Result<String, ExportError> {
        let binary = |cx: &mut Self, op: &str, a: &DimExpr, b: &DimExpr| {
            let (a, b) = (cx.dim_expr(a)?, cx.dim_expr(b)?);
            Ok(cx.op(op, &[&a, &b], vec![]))
        };
        match e {
            DimExpr::Const(n) => Ok(self.ints(&[*n])),
            DimExpr::Sym(s) => self.symbol(s),
            DimExpr::Add(a, b) => binary(self, "Add", a, b),
            DimExpr::Sub(a, b) => binary(self, "Sub", a, b),
            DimExpr::Mul(a, b) => binary(self, "Mul", a, b),
            DimExpr::Div(a, b) => binary(self, "Div", a, b),
            DimExpr::Infer => Ok(self.ints(&[-1])),
            DimExpr::Of { .. } | DimExpr::Any => Err(ExportError::Internal(format!(
                "the size `{e}` was not folded by the checker"
            ))),
        }
    }

    fn symbol(&mut self, s: &str) -> Result<String, ExportError> {
        if let Some(v) = self.g.symbol_values.get(s) {
            return Ok(v.clone());
        }
        let Some((input, axis)) = self.g.symbols.get(s).cloned() else {
            return Err(ExportError::Unsupported(format!(
                "its size `{s}` is not a dim of any model input, so the exported graph cannot compute it"
            )));
        };
        let shape = self.op("Shape", &[&input], vec![]);
        let at = self.ints(&[axis as i64]);
        let v = self.op("Gather", &[&shape, &at], vec![attr_int("axis", 0)]);
        self.g.symbol_values.insert(s.to_string(), v.clone());
        Ok(v)
    }

    /// The dims of a checked type at run time, joined into one int64 shape value.
    pub fn shape(&mut self, dims: &[Dim]) -> Result<String, ExportError> {
        if let Some(fixed) = dims.iter().map(Dim::fixed).collect::<Option<Vec<i64>>>() {
            return Ok(self.ints(&fixed));
        }
        let parts = dims
            .iter()
            .map(|d| self.dim(d))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        Ok(self.op("Concat", &refs, vec![attr_int("axis", 0)]))
    }
}

/// `[rows, cols]` row-major -> `[cols, rows]` row-major.
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        i: v,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        ints: v.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        f: v,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

pub fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        s: v.as_bytes().to_vec(),
        r#type: attribute_type::STRING,
        ..Default::default()
    }
}

/// The ONNX element type of an IR dtype.
pub fn elem_type(d: crate::ir::Dtype) -> i32 {
    use crate::ir::Dtype;
    match d {
        Dtype::F32 => data_type::FLOAT,
        Dtype::F64 => data_type::DOUBLE,
        Dtype::I64 => data_type::INT64,
        Dtype::U32 => data_type::UINT32,
        Dtype::Bool => data_type::BOOL,
    }
}

/// The `data_type` the ONNX recurrent ops take their `sequence_lens` in.
pub const INT32: i32 = data_type::INT32;
