//! The surface of the primitives: each [`PrimDecl`] is a name as written in .fuse files, its signature (parameter
//! names, kinds and defaults, docs/LANGUAGE.md's table) and the function that reads the bound arguments into an
//! `ir::Op`. Lowering binds arguments by this signature, takes the tensor parameters as the node's operands in
//! signature order, and calls `lower` with an [`ArgReader`] that checks and converts the other arguments.

use super::{attention, conv, decoder, elementwise, leaf, loss, norm, products, recurrent, views};
use crate::ir::{DimExpr, Op};

/// One primitive as the language sees it.
#[derive(Clone, Copy, Debug)]
pub struct PrimDecl {
    pub name: &'static str,
    pub params: &'static [PrimParam],
    /// What a call evaluates to.
    pub returns: Returns,
    /// Positional arguments after the first are gathered into one list, the second argument
    /// (`reshape(x, B, 4, 2)`).
    pub gathers: bool,
    /// Reads the non-tensor arguments into the op, reporting bad ones through the reader.
    pub lower: fn(&mut dyn ArgReader) -> Result<Op, ()>,
}

/// A parameter of a primitive's signature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrimParam {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Def,
}

/// What a parameter binds: the tensor kinds become the node's operands, in signature order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One tensor (optional when its default is [`Def::None`]).
    Tensor,
    /// A non-empty list of tensors (`concat`'s `xs`).
    Tensors,
    /// A tensor, or a number that becomes a constant target broadcast to the prediction (losses).
    Target,
    /// A compile-time value (a size, a flag, a choice) read by `lower`.
    Value,
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Def {
    Required,
    /// Optional without a value (`lengths = none`).
    None,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
}

/// What a call of the primitive evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    /// Its one output.
    Tensor,
    /// A list of its outputs (`split`).
    List,
    /// A record of its outputs under these names, as many as the op has outputs (`lstm`: seq, h, c).
    Record(&'static [&'static str]),
}

impl PrimParam {
    pub const fn tensor(name: &'static str) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Tensor,
            default: Def::Required,
        }
    }

    pub const fn opt_tensor(name: &'static str) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Tensor,
            default: Def::None,
        }
    }

    pub const fn tensors(name: &'static str) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Tensors,
            default: Def::Required,
        }
    }

    pub const fn target(name: &'static str) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Target,
            default: Def::Required,
        }
    }

    /// A required value.
    pub const fn value(name: &'static str) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Value,
            default: Def::Required,
        }
    }

    /// A value with a default (or [`Def::None`]).
    pub const fn with(name: &'static str, default: Def) -> PrimParam {
        PrimParam {
            name,
            kind: Kind::Value,
            default,
        }
    }
}

/// Checked access to the bound arguments of one call. Each accessor reports a `fusec::param::type` or
/// `fusec::param::value` diagnostic at the argument and returns `Err(())` when it does not fit (lowering's
/// convention: the error is already reported, so it carries nothing).
#[allow(clippy::result_unit_err)]
pub trait ArgReader {
    /// A size: a positive int or a dim expression (`D`, `dim(x, -1) * 2`).
    fn dim(&mut self, name: &str) -> Result<DimExpr, ()>;
    fn int(&mut self, name: &str) -> Result<i64, ()>;
    /// An int in `1..=u32::MAX`.
    fn positive(&mut self, name: &str) -> Result<i64, ()>;
    /// An int `>= 0`.
    fn count(&mut self, name: &str) -> Result<i64, ()>;
    fn float(&mut self, name: &str) -> Result<f64, ()>;
    /// A number in `[0, 1)`.
    fn prob(&mut self, name: &str) -> Result<f64, ()>;
    fn nonneg(&mut self, name: &str) -> Result<f64, ()>;
    fn flag(&mut self, name: &str) -> Result<bool, ()>;
    /// A string that must be one of `choices` ("did you mean" otherwise).
    fn choice(&mut self, name: &str, choices: &[&str]) -> Result<String, ()>;
    /// A shape: dims where `-1` (at most one) means inferred.
    fn shape(&mut self, name: &str) -> Result<Vec<DimExpr>, ()>;
    /// A non-empty list of dims (`split`'s sizes).
    fn sizes(&mut self, name: &str) -> Result<Vec<DimExpr>, ()>;
    /// Checks a [`Kind::Tensors`] argument before the values after it are read.
    fn tensors(&mut self, name: &str) -> Result<(), ()>;
    /// Whether an optional argument was given.
    fn given(&self, name: &str) -> bool;
    /// The width (last dim) of a tensor argument, as a size expression; `None` if it is not a tensor.
    fn width_of(&self, name: &str) -> Option<DimExpr>;
}

/// Every primitive of the language, in the order "did you mean" lists them.
pub static PRIMITIVES: &[PrimDecl] = &[
    products::LINEAR,
    products::EMBEDDING,
    elementwise::RELU,
    elementwise::TANH,
    elementwise::SIGMOID,
    elementwise::GELU,
    elementwise::LEAKY_RELU,
    elementwise::ACTIVATION,
    elementwise::DROPOUT,
    elementwise::NOISE,
    norm::LAYER_NORM,
    norm::BATCH_NORM,
    views::CONCAT,
    views::SPLIT,
    views::RESHAPE,
    views::TRANSPOSE,
    views::MEAN,
    views::SUM,
    views::MAX,
    views::SELECT,
    views::SLICE,
    views::LAST_VALID,
    views::PAD,
    products::MATMUL,
    products::OUTER,
    elementwise::SOFTMAX,
    elementwise::LOG_SOFTMAX,
    recurrent::LSTM,
    recurrent::GRU,
    attention::ATTENTION,
    attention::TRANSFORMER_LAYER,
    attention::POSITIONS,
    conv::CONV1D,
    conv::CONV2D,
    leaf::PARAM,
    elementwise::STOP_GRADIENT,
    loss::CROSS_ENTROPY,
    loss::BCE_WITH_LOGITS,
    loss::MSE,
    loss::L1,
    decoder::ATTENTION_DECODER,
    loss::NEXT_TOKEN_CROSS_ENTROPY,
];

/// The primitive called `name`.
pub fn primitive(name: &str) -> Option<&'static PrimDecl> {
    PRIMITIVES.iter().find(|p| p.name == name)
}

/// Every primitive name, for dispatch and "did you mean".
pub fn primitive_names() -> impl Iterator<Item = &'static str> {
    PRIMITIVES.iter().map(|p| p.name)
}
