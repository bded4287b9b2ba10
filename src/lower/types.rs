//! Types as written, folded during lowering: dtypes, dims of tensor types, and the compile-time value types of
//! block and model parameters (`int`, `float`, `bool`, `string`, `[T]`), with the conversions they allow.

use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{DimExpr, Dtype};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident, TensorTypeExpr, ValueTypeExpr};

use super::cx::Cx;
use super::value::Val;

const DTYPES: &[&str] = &["f32", "f64", "i64", "u32", "bool"];
const VALUE_TYPES: &[&str] = &["int", "float", "bool", "string"];

impl Cx<'_> {
    pub fn dtype(&mut self, name: &Ident) -> Result<Dtype, ()> {
        if let Some(d) = Dtype::parse(&name.name) {
            return Ok(d);
        }
        let d = Diagnostic::error(
            "fusec::type::dtype",
            format!("unknown dtype `{}`", name.name),
        )
        .label(name.span, "not a dtype");
        let d = match did_you_mean(&name.name, DTYPES.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("the dtypes are {}", DTYPES.join(", "))),
        };
        self.fail(d)
    }

    /// A declared tensor type with every dim folded as far as lowering can (`_` is `Any`).
    pub fn tensor_type(&mut self, ty: &TensorTypeExpr) -> Result<(Dtype, Vec<DimExpr>), ()> {
        let dtype = self.dtype(&ty.dtype);
        let mut dims = Vec::with_capacity(ty.dims.len());
        let mut ok = true;
        for d in &ty.dims {
            if matches!(&d.kind, ExprKind::Name(n) if n == "_") {
                dims.push(DimExpr::Any);
                continue;
            }
            match self.dim_of(d) {
                Ok(x) => dims.push(x),
                Err(()) => ok = false,
            }
        }
        if ok {
            Ok((dtype?, dims))
        } else {
            Err(())
        }
    }

    /// An expression that must be a dim: an int or a symbolic dim.
    pub fn dim_of(&mut self, e: &Expr) -> Result<DimExpr, ()> {
        let v = self.eval(e, None)?;
        match v.as_dim() {
            Some(d) => Ok(d),
            None => {
                let d = Diagnostic::error(
                    "fusec::type::dim",
                    format!("a dim must be an int or a symbol, found {}", v.kind()),
                )
                .label(e.span, "not a dim")
                .help("dims are ints, symbols (`B`), `_`, or arithmetic on them (`k / 2`)");
                self.fail(d)
            }
        }
    }

    /// Checks a value against a declared parameter type; ints widen to floats, int-like dims pass as ints.
    pub fn check_value_type(
        &mut self,
        ty: &ValueTypeExpr,
        v: Val,
        at: Span,
        param: &str,
    ) -> Result<Val, ()> {
        if matches!(v, Val::Poison) {
            return Err(());
        }
        match conforms(ty, v) {
            Ok(v) => Ok(v),
            Err(Some(found)) => {
                let d = Diagnostic::error(
                    "fusec::param::type",
                    format!("`{param}` expects {}, found {found}", describe(ty)),
                )
                .label(at, format!("this is {found}"))
                .label(ty.span(), "declared here")
                .help(format!("pass {}", describe(ty)));
                self.fail(d)
            }
            Err(None) => self.fail(unknown_value_type(ty)),
        }
    }
}

/// `Ok(converted)`, `Err(Some(kind found))` on a mismatch, `Err(None)` for an unknown type name.
fn conforms(ty: &ValueTypeExpr, v: Val) -> Result<Val, Option<&'static str>> {
    match ty {
        ValueTypeExpr::List(elem, _) => match v {
            Val::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(conforms(elem, i)?);
                }
                Ok(Val::List(out))
            }
            other => Err(Some(other.kind())),
        },
        ValueTypeExpr::Named(n) => match (n.name.as_str(), v) {
            ("int", v @ (Val::Int(_) | Val::Dim(_))) => Ok(v),
            ("float", Val::Int(i)) => Ok(Val::Float(i as f64)),
            ("float", v @ Val::Float(_)) => Ok(v),
            ("bool", v @ Val::Bool(_)) => Ok(v),
            ("string", v @ Val::Str(_)) => Ok(v),
            (t, other) if VALUE_TYPES.contains(&t) => Err(Some(other.kind())),
            _ => Err(None),
        },
    }
}

fn describe(ty: &ValueTypeExpr) -> String {
    match ty {
        ValueTypeExpr::Named(n) => match n.name.as_str() {
            "int" => "an int".into(),
            "float" => "a float".into(),
            "bool" => "a bool".into(),
            "string" => "a string".into(),
            other => format!("`{other}`"),
        },
        ValueTypeExpr::List(e, _) => format!(
            "a list of {}",
            describe(e)
                .trim_start_matches("an ")
                .trim_start_matches("a ")
        ),
    }
}

/// The first unknown type name inside a value type, as a diagnostic.
pub fn unknown_value_type(ty: &ValueTypeExpr) -> Diagnostic {
    match ty {
        ValueTypeExpr::List(e, _) => unknown_value_type(e),
        ValueTypeExpr::Named(n) => {
            let d = Diagnostic::error(
                "fusec::type::unknown",
                format!("unknown parameter type `{}`", n.name),
            )
            .label(n.span, "not a type");
            match did_you_mean(&n.name, VALUE_TYPES.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(
                    "parameter types are int, float, bool, string and lists of them (`[int]`)",
                ),
            }
        }
    }
}

/// Whether a value type names only known types.
pub fn value_type_known(ty: &ValueTypeExpr) -> bool {
    match ty {
        ValueTypeExpr::List(e, _) => value_type_known(e),
        ValueTypeExpr::Named(n) => VALUE_TYPES.contains(&n.name.as_str()),
    }
}
