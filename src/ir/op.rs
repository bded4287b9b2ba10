//! The IR's operations: one variant per op kind, each holding the attribute struct that the op registry
//! (`crate::ops`) declares together with everything else about the op (signature, shape rule, parameters,
//! FLOPs, kernel). `Op::prim` (in `ops/mod.rs`) is the one exhaustive match from a variant to its declaration.
//! Each op documents its operands (in edge order) and output ports; attributes that are sizes are
//! [`DimExpr`](super::DimExpr)s folded by the checker.

use serde::Serialize;

pub use crate::ops::{
    Activation, Attention, BatchNorm, BinaryOp, Cell, Concat, Conv1d, Conv2d, Decoder, DecoderInit,
    Dropout, Embedding, Input, LastValid, LayerNorm, Linear, LossKind, MatMul, Merge, Noise, Outer,
    Pad, Param, Positions, Recurrent, Reduce, ReduceKind, Reshape, Scalar, Select, Slice, Softmax,
    Split, StopGradient, TransformerLayer, Transpose,
};

/// Initialiser of a parameter. All follow PyTorch's definitions so fixtures and published models line up.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Init {
    /// U(-b, b) with b = 1/sqrt(fan_in) (PyTorch's Linear, LSTM with fan_in = hidden, Conv).
    UniformFanIn {
        fan_in: i64,
    },
    /// N(0, 1) (Embedding).
    StdNormal,
    /// Xavier/Glorot normal with PyTorch's fan computation.
    XavierNormal,
    /// Xavier/Glorot uniform with PyTorch's fan computation.
    XavierUniform,
    Zeros,
    Ones,
}

/// One parameter (or buffer) an op owns. Its full name is `{owner path}.{suffix}` (or the owner path itself when
/// `suffix` is empty, as for `param(...)`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSpec {
    pub suffix: String,
    pub shape: Vec<i64>,
    pub init: Init,
    /// Buffers (batch-norm running statistics) are saved with the model but never trained.
    pub trainable: bool,
}

/// Every op kind. The attribute structs live with their declarations in `crate::ops`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Op {
    /// A model input bound to a data field. No operands.
    Input(Input),
    /// A raw trainable tensor. No operands; owns one parameter named by the node's param path.
    Param(Param),
    /// A scalar constant (f32[]).
    Scalar(Scalar),
    /// `[.., in] -> [.., out]`.
    Linear(Linear),
    /// `i64[..] -> f32[.., dim]`.
    Embedding(Embedding),
    Act(Activation),
    Dropout(Dropout),
    Noise(Noise),
    LayerNorm(LayerNorm),
    BatchNorm(BatchNorm),
    /// n operands, joined along an axis.
    Concat(Concat),
    /// One operand; one output port per size.
    Split(Split),
    Reshape(Reshape),
    Transpose(Transpose),
    Reduce(Reduce),
    Select(Select),
    Slice(Slice),
    /// Operands: `seq [B, T, D]`, `lengths i64[B]`.
    LastValid(LastValid),
    Pad(Pad),
    /// Two operands, NumPy broadcasting.
    Binary(BinaryOp),
    /// Two operands, batched matmul with broadcasting of the leading dims.
    MatMul(MatMul),
    Outer(Outer),
    Softmax(Softmax),
    /// Operands: `x`, optional `lengths`. Ports: seq, h, and c (LSTM only).
    Recurrent(Recurrent),
    /// Operands: `q`, optional `kv`.
    Attention(Attention),
    /// Operands: `x`, optional `kv`.
    TransformerLayer(TransformerLayer),
    Positions(Positions),
    Conv1d(Conv1d),
    Conv2d(Conv2d),
    StopGradient(StopGradient),
    /// Operands: `memory`, `lengths`, `init`, `targets`.
    Decoder(Decoder),
    /// Two operands (prediction, target) -> f32[] mean loss.
    Loss(LossKind),
}
