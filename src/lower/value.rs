//! Compile-time values of the lowering evaluator: numbers, strings, lists, symbolic dims, tensors (graph
//! values), records of named block outputs, and shared instances waiting to be applied.

use std::rc::Rc;

use crate::ir::{DimExpr, Value};
use crate::source::Span;

use super::modules::BlockDef;

/// What a name or an expression evaluates to during lowering.
#[derive(Clone, Debug)]
pub enum Val {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Val>),
    /// An integer known only after shape checking (`dim(x, 1)`, `k / 2` with `k` symbolic).
    Dim(DimExpr),
    /// One output port of a graph node.
    Tensor(Value),
    /// Named outputs of a block call or a recurrent layer (`f.z`, `r.h`).
    Record(Vec<(String, Val)>),
    /// `name = shared Call(args)`: applied later, every application sharing one set of parameters.
    Shared(Rc<SharedInst>),
    /// No value (`lengths = none`).
    None,
    /// The result of an expression whose error was already reported: silences follow-up errors.
    Poison,
}

/// What a shared instance applies.
#[derive(Clone, Debug)]
pub enum Callee {
    Block(Rc<BlockDef>),
    Prim(&'static str),
}

#[derive(Clone, Debug)]
pub struct SharedInst {
    pub callee: Callee,
    /// Arguments given at creation (keyword, or positional with `None`), prepended to each application's.
    pub args: Vec<(Option<String>, Val, Span)>,
    /// The parameter path every application uses.
    pub path: String,
}

impl Val {
    /// The kind of value in words, for "expected an int, found a list" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Int(_) => "an int",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a bool",
            Val::Str(_) => "a string",
            Val::List(_) => "a list",
            Val::Dim(_) => "a dim",
            Val::Tensor(_) => "a tensor",
            Val::Record(_) => "a record of named outputs",
            Val::Shared(_) => "a shared instance",
            Val::None => "`none`",
            Val::Poison => "an erroneous value",
        }
    }

    /// How many nodes the value holds (list elements, record fields and dim-expression nodes, recursively),
    /// counting no further than `cap`: what cloning it costs, and what the value-size limit bounds.
    pub fn weight(&self, cap: usize) -> usize {
        let mut n = 0;
        self.add_weight(&mut n, cap);
        n
    }

    fn add_weight(&self, n: &mut usize, cap: usize) {
        *n += 1;
        match self {
            Val::List(items) => {
                for v in items {
                    if *n > cap {
                        return;
                    }
                    v.add_weight(n, cap);
                }
            }
            Val::Record(fields) => {
                for (_, v) in fields {
                    if *n > cap {
                        return;
                    }
                    v.add_weight(n, cap);
                }
            }
            Val::Dim(d) => dim_weight(d, n, cap),
            Val::Str(s) => *n += s.len() / 64,
            _ => {}
        }
    }

    /// An integer-like value as a dim expression (ints and dims).
    pub fn as_dim(&self) -> Option<DimExpr> {
        match self {
            Val::Int(n) => Some(DimExpr::Const(*n)),
            Val::Dim(d) => Some(d.clone()),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(n) => Some(*n as f64),
            Val::Float(x) => Some(*x),
            _ => None,
        }
    }
}

/// Builds `a op b` on dims, folding constants so `Const` never hides inside arithmetic on constants.
pub fn dim_arith(op: char, a: DimExpr, b: DimExpr) -> Option<DimExpr> {
    if let (DimExpr::Const(x), DimExpr::Const(y)) = (&a, &b) {
        let v = match op {
            '+' => x.checked_add(*y),
            '-' => x.checked_sub(*y),
            '*' => x.checked_mul(*y),
            _ => {
                if *y == 0 {
                    None
                } else {
                    x.checked_div(*y)
                }
            }
        }?;
        return Some(DimExpr::Const(v));
    }
    let (a, b) = (Box::new(a), Box::new(b));
    Some(match op {
        '+' => DimExpr::Add(a, b),
        '-' => DimExpr::Sub(a, b),
        '*' => DimExpr::Mul(a, b),
        _ => DimExpr::Div(a, b),
    })
}

fn dim_weight(d: &DimExpr, n: &mut usize, cap: usize) {
    *n += 1;
    if *n > cap {
        return;
    }
    match d {
        DimExpr::Add(a, b) | DimExpr::Sub(a, b) | DimExpr::Mul(a, b) | DimExpr::Div(a, b) => {
            dim_weight(a, n, cap);
            dim_weight(b, n, cap);
        }
        _ => {}
    }
}

/// A dim value in its simplest form: constants become ints.
pub fn dim_val(d: DimExpr) -> Val {
    match d {
        DimExpr::Const(n) => Val::Int(n),
        other => Val::Dim(other),
    }
}
