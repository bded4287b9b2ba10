//! The checker's side table: the resolved type of every value of a model. Only a successful check makes one
//! (its fields are private to `check`, and there is no public constructor), and the back end takes a model
//! together with its `Shapes`, so unchecked IR cannot reach it by construction.

use std::collections::{BTreeMap, HashMap};

use crate::ir::{Dim, DimExpr, ParamSpec, TensorType, Value};

/// Types of every value (node output port) of one model, plus the parameter table derived from them.
#[derive(Clone, Debug)]
pub struct Shapes {
    pub(super) types: HashMap<Value, TensorType>,
    /// Every parameter and buffer of the model by full name (`fusion.enc1.weight`), with its shape, sorted by
    /// name. Shared instances appear once.
    pub(super) params: BTreeMap<String, ParamSpec>,
}

impl Shapes {
    /// The empty table a check starts from.
    pub(super) fn empty() -> Shapes {
        Shapes {
            types: HashMap::new(),
            params: BTreeMap::new(),
        }
    }

    /// Every parameter and buffer by full name, sorted.
    pub fn params(&self) -> &BTreeMap<String, ParamSpec> {
        &self.params
    }

    /// One parameter's spec by full name.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.get(name)
    }

    pub fn ty(&self, v: Value) -> Option<&TensorType> {
        self.types.get(&v)
    }

    /// Folds a dim expression with the types known so far. Symbols stay symbols; arithmetic on a symbol gives
    /// `None` (the checker reports it), as does division by zero.
    pub fn eval(&self, e: &DimExpr) -> Option<Dim> {
        self.eval_in(e, &HashMap::new())
    }

    /// Like [`Shapes::eval`], with values for symbols (the back end binds `B`, `T` from the batch it runs).
    pub fn eval_in(&self, e: &DimExpr, env: &HashMap<String, i64>) -> Option<Dim> {
        let num = |d: Dim| match d {
            Dim::Fixed(n) => Some(n),
            Dim::Sym(s) => env.get(&s).copied(),
        };
        let arith = |a: &DimExpr, b: &DimExpr, f: fn(i64, i64) -> Option<i64>| -> Option<Dim> {
            let x = num(self.eval_in(a, env)?)?;
            let y = num(self.eval_in(b, env)?)?;
            f(x, y).map(Dim::Fixed)
        };
        match e {
            DimExpr::Const(n) => Some(Dim::Fixed(*n)),
            DimExpr::Sym(s) => Some(
                env.get(s)
                    .map(|n| Dim::Fixed(*n))
                    .unwrap_or_else(|| Dim::Sym(s.clone())),
            ),
            DimExpr::Of { value, axis } => {
                let ty = self.types.get(value)?;
                let rank = ty.dims.len() as i64;
                let ax = if *axis < 0 { rank + axis } else { *axis };
                let d = ty.dims.get(usize::try_from(ax).ok()?)?.clone();
                match d {
                    Dim::Sym(s) => Some(env.get(&s).map(|n| Dim::Fixed(*n)).unwrap_or(Dim::Sym(s))),
                    fixed => Some(fixed),
                }
            }
            DimExpr::Add(a, b) => arith(a, b, |x, y| x.checked_add(y)),
            DimExpr::Sub(a, b) => arith(a, b, |x, y| x.checked_sub(y)),
            DimExpr::Mul(a, b) => arith(a, b, |x, y| x.checked_mul(y)),
            DimExpr::Div(a, b) => arith(a, b, |x, y| if y == 0 { None } else { Some(x / y) }),
            DimExpr::Infer | DimExpr::Any => None,
        }
    }

    /// A fixed number for a size attribute (`linear`'s `out`), or `None`.
    pub fn eval_fixed(&self, e: &DimExpr) -> Option<i64> {
        self.eval(e).and_then(|d| d.fixed())
    }

    /// Number of trainable parameters (buffers excluded).
    pub fn n_trainable(&self) -> i64 {
        // Saturating: dims are bounded by the checker, but this must never panic on a hand-made table.
        self.params
            .values()
            .filter(|p| p.trainable)
            .map(|p| p.shape.iter().fold(1i64, |a, d| a.saturating_mul(*d)))
            .fold(0i64, i64::saturating_add)
    }
}

impl crate::ir::ValueTypes for Shapes {
    fn value_type(&self, v: Value) -> Option<&TensorType> {
        self.ty(v)
    }
}
