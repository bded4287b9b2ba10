//! Dtypes and dims: the vocabulary of tensor types shared by the IR, the checker and the back end.

use serde::Serialize;
use std::fmt;

use super::graph::Value;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Dtype {
    F32,
    F64,
    I64,
    U32,
    Bool,
}

impl Dtype {
    pub fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "f32" => Dtype::F32,
            "f64" => Dtype::F64,
            "i64" => Dtype::I64,
            "u32" => Dtype::U32,
            "bool" => Dtype::Bool,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
            Dtype::I64 => "i64",
            Dtype::U32 => "u32",
            Dtype::Bool => "bool",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dim as the checker resolved it: a number, or a symbol that stays free for the whole model (the batch `B`,
/// a sequence length `T`). Two symbols with the same name in one model are the same dim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Dim {
    Fixed(i64),
    Sym(String),
}

impl Dim {
    pub fn fixed(&self) -> Option<i64> {
        match self {
            Dim::Fixed(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// A resolved tensor type: dtype plus dims. A scalar has no dims.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TensorType {
    pub dtype: Dtype,
    pub dims: Vec<Dim>,
}

impl TensorType {
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements per example: the product of all fixed dims after the first (batch) dim.
    /// Symbolic dims other than the batch count as 1 here; callers that care check `is_fixed_after_batch`.
    pub fn per_example_elems(&self) -> i64 {
        self.dims
            .iter()
            .skip(1)
            .map(|d| d.fixed().unwrap_or(1))
            .product()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.dims.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// A dim as written or computed before checking: attributes of ops (`linear`'s `out`, a reshape target) and
/// declared port types use it. The checker folds it to a [`Dim`] with [`crate::check::Shapes::eval`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DimExpr {
    Const(i64),
    /// A free symbolic dim (`B`, `T`).
    Sym(String),
    /// `dim(value, axis)`: a dim of another tensor, known once that tensor is checked (negative axis from the end).
    Of {
        value: Value,
        axis: i64,
    },
    Add(Box<DimExpr>, Box<DimExpr>),
    Sub(Box<DimExpr>, Box<DimExpr>),
    Mul(Box<DimExpr>, Box<DimExpr>),
    /// Integer division, rounding toward zero (as Python's `//` on positives).
    Div(Box<DimExpr>, Box<DimExpr>),
    /// `-1` in a reshape: inferred from the element count.
    Infer,
    /// `_` in a declared type: anything, unchecked.
    Any,
}

impl fmt::Display for DimExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DimExpr::Const(n) => write!(f, "{n}"),
            DimExpr::Sym(s) => f.write_str(s),
            DimExpr::Of { value, axis } => {
                write!(f, "dim(%{}:{}, {axis})", value.node.index(), value.port)
            }
            DimExpr::Add(a, b) => write!(f, "({a} + {b})"),
            DimExpr::Sub(a, b) => write!(f, "({a} - {b})"),
            DimExpr::Mul(a, b) => write!(f, "({a} * {b})"),
            DimExpr::Div(a, b) => write!(f, "({a} / {b})"),
            DimExpr::Infer => f.write_str("-1"),
            DimExpr::Any => f.write_str("_"),
        }
    }
}

/// Where the types of a model's values come from: the checker's `Shapes`, or `()` for none (`?` in dumps). The
/// printers take one, so the IR does not depend on the checker.
pub trait ValueTypes {
    fn value_type(&self, v: super::Value) -> Option<&TensorType>;
}

impl ValueTypes for () {
    fn value_type(&self, _: super::Value) -> Option<&TensorType> {
        None
    }
}

impl ValueTypes for std::collections::HashMap<super::Value, TensorType> {
    fn value_type(&self, v: super::Value) -> Option<&TensorType> {
        self.get(&v)
    }
}

impl<T: ValueTypes + ?Sized> ValueTypes for &T {
    fn value_type(&self, v: super::Value) -> Option<&TensorType> {
        (**self).value_type(v)
    }
}

impl<T: ValueTypes> ValueTypes for Option<T> {
    fn value_type(&self, v: super::Value) -> Option<&TensorType> {
        self.as_ref().and_then(|t| t.value_type(v))
    }
}
