//! The op registry: one declaration per primitive, which every stage reads.
//!
//! An op kind is an attribute struct (`Linear { out, bias }`), held by one variant of [`crate::ir::Op`], plus an
//! `impl` of [`Primitive`] next to it: its name, arity, outputs, printed attributes, size attributes, parameters
//! (through the typed parameter sets of `crate::nn`), shape rule, FLOPs and forward kernel. The surface syntax of
//! each primitive is a [`PrimDecl`] in [`PRIMITIVES`]: name, signature with defaults, and the function that reads
//! the bound arguments into an `Op`. `Op::prim` is the one `match` over ops that maps a variant to its
//! declaration, so a new variant is a compile error until it has one, and `Primitive` has no default methods, so
//! the compiler lists everything a new op still needs.
//!
//! Who reads what: lowering (`lower/prims.rs`) reads `PRIMITIVES`; the checker calls `shape` and `param_specs`;
//! `ir::verify` calls `arity`, `n_outputs`, `dims` and `owns_params`; the printer and DOT call `name` and
//! `attrs`; `fusec summary` calls `flops`; the back end calls `forward` through [`crate::backend::Kernel`];
//! `fusec export` calls `onnx` (the op's ONNX nodes, through [`crate::export::OnnxCx`]).
//!
//! Reverse mode: a per-op backward rule belongs here too, as one more required method next to `forward`
//! (`fn vjp(&self, k: &mut Kernel, saved: &Saved, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>>`),
//! with the tensors a rule needs saved by `forward` through a slot of the `Kernel` context, so adding it changes
//! no signature here.

/// The facts of an op without parameters, size attributes or extra outputs, inside its `impl Primitive`:
/// `stateless!(Arity::exactly(1));`.
macro_rules! stateless {
    ($arity:expr) => {
        fn arity(&self) -> $crate::ops::Arity {
            $arity
        }

        fn n_outputs(&self) -> usize {
            1
        }

        fn dims_mut(&mut self) -> Vec<&mut $crate::ir::DimExpr> {
            Vec::new()
        }

        fn owns_params(&self) -> bool {
            false
        }

        fn param_specs(
            &self,
            _: &[Vec<$crate::ir::Dim>],
            _: &dyn Fn(&$crate::ir::DimExpr) -> Option<i64>,
        ) -> Option<Vec<$crate::ir::ParamSpec>> {
            Some(Vec::new())
        }
    };
}

mod attention;
mod conv;
mod decoder;
mod elementwise;
mod leaf;
mod loss;
mod norm;
mod products;
mod recurrent;
mod signature;
mod views;

use std::collections::HashMap;

use candle_core::Tensor;

use crate::backend::Kernel;
use crate::check::rules::{Rule, RuleError};
use crate::export::{Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::summary::flops::FlopCx;

pub use attention::{Attention, Positions, TransformerLayer};
pub use conv::{Conv1d, Conv2d};
pub use decoder::{Decoder, DecoderInit};
pub use elementwise::{Activation, BinaryOp, Dropout, Noise, Softmax, StopGradient};
pub use leaf::{Input, Param, Scalar};
pub use loss::LossKind;
pub use norm::{BatchNorm, LayerNorm};
pub use products::{Embedding, Linear, MatMul, Outer};
pub use recurrent::{Cell, Merge, Recurrent};
pub use signature::{
    primitive, primitive_names, ArgReader, Def, Kind, PrimDecl, PrimParam, Returns, PRIMITIVES,
};
pub use views::{
    Concat, LastValid, Pad, Reduce, ReduceKind, Reshape, Select, Slice, Split, Transpose,
};

/// Values of the symbols (`B`, `T`) a FLOP count is taken at; unbound symbols count as 1.
pub type Env = HashMap<String, i64>;

/// What every op declares. Each method is required: a new op states each fact explicitly.
pub trait Primitive {
    /// Short lower-case name used in dumps, DOT labels and summaries (`linear`, `lstm`, `mean`).
    fn name(&self) -> &'static str;
    /// How many tensor operands the op takes.
    fn arity(&self) -> Arity;
    /// Number of output ports.
    fn n_outputs(&self) -> usize;
    /// Attributes in print order, as `key=value` pairs of the text dump.
    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)>;
    /// The size attributes (`linear`'s `out`, reshape targets) that the checker folds and rewrites.
    fn dims_mut(&mut self) -> Vec<&mut DimExpr>;
    /// Whether the op owns parameters (lowering names their owner; `param_specs` lists them).
    fn owns_params(&self) -> bool;
    /// Whether the op draws from the run's seeded generator in training (dropout masks, noise).
    fn is_stochastic(&self) -> bool;
    /// The parameters the op owns, given its operands' dims and a folder for its size attributes; `None` when a
    /// size it needs is not a fixed number (the checker reports that before anyone asks).
    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>>;
    /// The shape and dtype rule: the output types from the operand types.
    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>>;
    /// Forward FLOPs per example (conventions in `src/summary/flops.rs`).
    fn flops(&self, f: &FlopCx) -> f64;
    /// The forward kernel: one tensor per output port.
    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>>;
    /// The ONNX nodes computing the op in prediction mode (`fusec export`), given its operands' ONNX values:
    /// one value per output port, or `ExportError::Unsupported` saying what has no mapping yet (the exporter
    /// turns it into a diagnostic located at the op's use).
    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped;
}

/// The number of tensor operands an op takes: `min..=max` (`max = None`: no upper bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arity {
    pub min: usize,
    pub max: Option<usize>,
}

impl Arity {
    pub const fn exactly(n: usize) -> Arity {
        Arity {
            min: n,
            max: Some(n),
        }
    }

    pub const fn between(min: usize, max: usize) -> Arity {
        Arity {
            min,
            max: Some(max),
        }
    }

    pub const fn at_least(min: usize) -> Arity {
        Arity { min, max: None }
    }

    pub fn accepts(&self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

/// One attribute value for the text dump. Size attributes keep their expressions (`dim(%0, 1)`).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Dim(&'a DimExpr),
    Dims(&'a [DimExpr]),
}

/// What a shape rule may ask of the checker about the node it types.
pub trait ShapeCx {
    /// Folds a size attribute to a fixed, bounded number (errors name `what`).
    fn size(&self, e: &DimExpr, what: &str) -> Rule<i64>;
    /// Folds a dim expression; symbols stay symbols.
    fn dim(&self, e: &DimExpr) -> Rule<Dim>;
    /// The declared type of the model input this node is.
    fn input(&self) -> Rule<TensorType>;
}

impl Op {
    /// The declaration of this op: the one exhaustive `match` from variants to their [`Primitive`] impls.
    pub fn prim(&self) -> &dyn Primitive {
        match self {
            Op::Input(p) => p,
            Op::Param(p) => p,
            Op::Scalar(p) => p,
            Op::Linear(p) => p,
            Op::Embedding(p) => p,
            Op::Act(p) => p,
            Op::Dropout(p) => p,
            Op::Noise(p) => p,
            Op::LayerNorm(p) => p,
            Op::BatchNorm(p) => p,
            Op::Concat(p) => p,
            Op::Split(p) => p,
            Op::Reshape(p) => p,
            Op::Transpose(p) => p,
            Op::Reduce(p) => p,
            Op::Select(p) => p,
            Op::Slice(p) => p,
            Op::LastValid(p) => p,
            Op::Pad(p) => p,
            Op::Binary(p) => p,
            Op::MatMul(p) => p,
            Op::Outer(p) => p,
            Op::Softmax(p) => p,
            Op::Recurrent(p) => p,
            Op::Attention(p) => p,
            Op::TransformerLayer(p) => p,
            Op::Positions(p) => p,
            Op::Conv1d(p) => p,
            Op::Conv2d(p) => p,
            Op::StopGradient(p) => p,
            Op::Decoder(p) => p,
            Op::Loss(p) => p,
        }
    }

    /// Mutable access to the declaration (the checker rewrites size attributes through `dims_mut`).
    pub fn prim_mut(&mut self) -> &mut dyn Primitive {
        match self {
            Op::Input(p) => p,
            Op::Param(p) => p,
            Op::Scalar(p) => p,
            Op::Linear(p) => p,
            Op::Embedding(p) => p,
            Op::Act(p) => p,
            Op::Dropout(p) => p,
            Op::Noise(p) => p,
            Op::LayerNorm(p) => p,
            Op::BatchNorm(p) => p,
            Op::Concat(p) => p,
            Op::Split(p) => p,
            Op::Reshape(p) => p,
            Op::Transpose(p) => p,
            Op::Reduce(p) => p,
            Op::Select(p) => p,
            Op::Slice(p) => p,
            Op::LastValid(p) => p,
            Op::Pad(p) => p,
            Op::Binary(p) => p,
            Op::MatMul(p) => p,
            Op::Outer(p) => p,
            Op::Softmax(p) => p,
            Op::Recurrent(p) => p,
            Op::Attention(p) => p,
            Op::TransformerLayer(p) => p,
            Op::Positions(p) => p,
            Op::Conv1d(p) => p,
            Op::Conv2d(p) => p,
            Op::StopGradient(p) => p,
            Op::Decoder(p) => p,
            Op::Loss(p) => p,
        }
    }
}

impl Op {
    /// The size attributes, in print order (those of `attrs`).
    pub fn dims(&self) -> Vec<&DimExpr> {
        let mut out = Vec::new();
        for (_, a) in self.prim().attrs() {
            match a {
                Attr::Dim(d) => out.push(d),
                Attr::Dims(ds) => out.extend(ds),
                Attr::Int(_) | Attr::Float(_) | Attr::Bool(_) | Attr::Text(_) => {}
            }
        }
        out
    }

    /// Short lower-case name used in dumps, DOT labels and summaries.
    pub fn name(&self) -> &'static str {
        self.prim().name()
    }

    /// Number of output ports.
    pub fn n_outputs(&self) -> usize {
        self.prim().n_outputs()
    }

    /// True for the ops that own parameters (so lowering names their owner).
    pub fn owns_params(&self) -> bool {
        self.prim().owns_params()
    }

    /// True for ops that draw from the run's seeded generator in training.
    pub fn is_stochastic(&self) -> bool {
        self.prim().is_stochastic()
    }

    /// Parameters this op owns (see [`Primitive::param_specs`]).
    pub fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        self.prim().param_specs(inputs, eval)
    }
}

/// Operand `i`'s type. A missing operand was reported already (arity), so the rule fails silently.
pub(crate) fn ty(ins: &[TensorType], i: usize) -> Rule<&TensorType> {
    ins.get(i).ok_or_else(RuleError::silent)
}

/// The last dim of operand `i`, when it is a fixed number (sizes weights).
pub(crate) fn last_fixed(inputs: &[Vec<Dim>], i: usize) -> Option<i64> {
    inputs.get(i).and_then(|d| d.last()).and_then(|d| d.fixed())
}

/// Dim `axis` of operand `i`, when it is a fixed number.
pub(crate) fn dim_fixed(inputs: &[Vec<Dim>], i: usize, axis: usize) -> Option<i64> {
    inputs
        .get(i)
        .and_then(|d| d.get(axis))
        .and_then(|d| d.fixed())
}

#[cfg(test)]
#[path = "tests/registry.rs"]
mod tests;
