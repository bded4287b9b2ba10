//! Typed accessors for primitive arguments: each checks the kind and range of one argument and reports a
//! `fusec::param::type` or `fusec::param::value` diagnostic at the argument otherwise. [`Reader`] offers them
//! to the primitives' declarations as an `ops::ArgReader`.

use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{DimExpr, Value};
use crate::ops::ArgReader;

use super::super::cx::Cx;
use super::super::value::Val;
use super::{arg_type, Args};

impl Cx<'_> {
    pub(super) fn a_dim(&mut self, a: &Args, name: &str) -> Result<DimExpr, ()> {
        let (v, at) = a.get(name);
        match v.as_dim() {
            Some(DimExpr::Const(n)) if n <= 0 => self.fail(bad_value(
                a.prim,
                name,
                &format!("{n}"),
                "a positive size",
                at,
            )),
            Some(d) => Ok(d),
            None => self.fail(arg_type(a.prim, name, "an int", &v, at)),
        }
    }

    pub(super) fn a_int(&mut self, a: &Args, name: &str) -> Result<i64, ()> {
        let (v, at) = a.get(name);
        match v {
            Val::Int(n) => Ok(n),
            other => self.fail(arg_type(a.prim, name, "an int", &other, at)),
        }
    }

    pub(super) fn a_positive(&mut self, a: &Args, name: &str) -> Result<i64, ()> {
        let n = self.a_int(a, name)?;
        if n <= 0 || n > u32::MAX as i64 {
            return self.fail(bad_value(
                a.prim,
                name,
                &n.to_string(),
                "a positive int",
                a.get(name).1,
            ));
        }
        Ok(n)
    }

    pub(super) fn a_count(&mut self, a: &Args, name: &str) -> Result<i64, ()> {
        let n = self.a_int(a, name)?;
        if n < 0 {
            return self.fail(bad_value(
                a.prim,
                name,
                &n.to_string(),
                "zero or more",
                a.get(name).1,
            ));
        }
        Ok(n)
    }

    pub(super) fn a_float(&mut self, a: &Args, name: &str) -> Result<f64, ()> {
        let (v, at) = a.get(name);
        match v.as_f64() {
            Some(x) => Ok(x),
            None => self.fail(arg_type(a.prim, name, "a number", &v, at)),
        }
    }

    pub(super) fn a_prob(&mut self, a: &Args, name: &str) -> Result<f64, ()> {
        let x = self.a_float(a, name)?;
        if !(0.0..1.0).contains(&x) {
            return self.fail(bad_value(
                a.prim,
                name,
                &x.to_string(),
                "a number in [0, 1)",
                a.get(name).1,
            ));
        }
        Ok(x)
    }

    pub(super) fn a_nonneg(&mut self, a: &Args, name: &str) -> Result<f64, ()> {
        let x = self.a_float(a, name)?;
        if x < 0.0 {
            return self.fail(bad_value(
                a.prim,
                name,
                &x.to_string(),
                "a non-negative number",
                a.get(name).1,
            ));
        }
        Ok(x)
    }

    pub(super) fn a_bool(&mut self, a: &Args, name: &str) -> Result<bool, ()> {
        let (v, at) = a.get(name);
        match v {
            Val::Bool(b) => Ok(b),
            other => self.fail(arg_type(a.prim, name, "a bool", &other, at)),
        }
    }

    /// A string argument that must be one of `choices`.
    pub(super) fn a_choice(
        &mut self,
        a: &Args,
        name: &str,
        choices: &[&str],
    ) -> Result<String, ()> {
        let (v, at) = a.get(name);
        let Val::Str(s) = v else {
            return self.fail(arg_type(a.prim, name, "a string", &v, at));
        };
        if choices.contains(&s.as_str()) {
            return Ok(s);
        }
        let list: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
        let mut d = Diagnostic::error(
            "fusec::param::value",
            format!("`{name}` of `{}` cannot be \"{s}\"", a.prim),
        )
        .label(at, "not one of the choices");
        d = match did_you_mean(&s, choices.iter().copied()) {
            Some(c) => d.help(format!("did you mean \"{c}\"?")),
            None => d.help(format!("choose one of {}", list.join(", "))),
        };
        self.fail(d)
    }

    /// A list of tensors (`concat`'s operands).
    pub(super) fn a_tensors(&mut self, a: &Args, name: &str) -> Result<Vec<Value>, ()> {
        let (v, at) = a.get(name);
        let tensors = match &v {
            Val::List(items) if !items.is_empty() => items
                .iter()
                .map(|i| {
                    if let Val::Tensor(t) = i {
                        Some(*t)
                    } else {
                        None
                    }
                })
                .collect(),
            _ => None,
        };
        match tensors {
            Some(t) => Ok(t),
            None => self.fail(arg_type(
                a.prim,
                name,
                "a non-empty list of tensors",
                &v,
                at,
            )),
        }
    }

    /// A non-empty list of dims (`split`'s sizes).
    pub(super) fn a_sizes(&mut self, a: &Args, name: &str) -> Result<Vec<DimExpr>, ()> {
        let (v, at) = a.get(name);
        let Val::List(items) = v else {
            return self.fail(arg_type(a.prim, name, "a list of dims", &v, at));
        };
        let sizes = items
            .iter()
            .map(|i| i.as_dim())
            .collect::<Option<Vec<DimExpr>>>();
        match sizes.filter(|s| !s.is_empty()) {
            Some(s) => Ok(s),
            None => {
                let found = Val::List(items);
                self.fail(arg_type(
                    a.prim,
                    name,
                    "a non-empty list of dims",
                    &found,
                    at,
                ))
            }
        }
    }

    /// A shape: a list of dims, where `-1` means "inferred" (at most one).
    pub(super) fn a_shape(&mut self, a: &Args, name: &str) -> Result<Vec<DimExpr>, ()> {
        let (v, at) = a.get(name);
        let Val::List(items) = &v else {
            return self.fail(arg_type(a.prim, name, "a list of dims", &v, at));
        };
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            match i.as_dim() {
                Some(DimExpr::Const(-1)) => out.push(DimExpr::Infer),
                Some(DimExpr::Const(n)) if n <= 0 => {
                    return self.fail(bad_value(
                        a.prim,
                        name,
                        &n.to_string(),
                        "positive dims (or one -1)",
                        at,
                    ))
                }
                Some(d) => out.push(d),
                None => return self.fail(arg_type(a.prim, name, "a list of dims", i, at)),
            }
        }
        if out.iter().filter(|d| **d == DimExpr::Infer).count() > 1 {
            return self.fail(bad_value(a.prim, name, "two -1 dims", "at most one -1", at));
        }
        Ok(out)
    }
}

fn bad_value(
    prim: &str,
    name: &str,
    found: &str,
    expected: &str,
    at: crate::source::Span,
) -> Diagnostic {
    Diagnostic::error(
        "fusec::param::value",
        format!("`{name}` of `{prim}` must be {expected}, not {found}"),
    )
    .label(at, "out of range")
    .help(format!("pass {expected}"))
}

/// The [`ArgReader`] a primitive's declaration reads its arguments through.
pub(super) struct Reader<'c, 'x, 'a> {
    pub(super) cx: &'c mut Cx<'x>,
    pub(super) a: &'a Args,
}

impl ArgReader for Reader<'_, '_, '_> {
    fn dim(&mut self, name: &str) -> Result<DimExpr, ()> {
        self.cx.a_dim(self.a, name)
    }

    fn int(&mut self, name: &str) -> Result<i64, ()> {
        self.cx.a_int(self.a, name)
    }

    fn positive(&mut self, name: &str) -> Result<i64, ()> {
        self.cx.a_positive(self.a, name)
    }

    fn count(&mut self, name: &str) -> Result<i64, ()> {
        self.cx.a_count(self.a, name)
    }

    fn float(&mut self, name: &str) -> Result<f64, ()> {
        self.cx.a_float(self.a, name)
    }

    fn prob(&mut self, name: &str) -> Result<f64, ()> {
        self.cx.a_prob(self.a, name)
    }

    fn nonneg(&mut self, name: &str) -> Result<f64, ()> {
        self.cx.a_nonneg(self.a, name)
    }

    fn flag(&mut self, name: &str) -> Result<bool, ()> {
        self.cx.a_bool(self.a, name)
    }

    fn choice(&mut self, name: &str, choices: &[&str]) -> Result<String, ()> {
        self.cx.a_choice(self.a, name, choices)
    }

    fn shape(&mut self, name: &str) -> Result<Vec<DimExpr>, ()> {
        self.cx.a_shape(self.a, name)
    }

    fn sizes(&mut self, name: &str) -> Result<Vec<DimExpr>, ()> {
        self.cx.a_sizes(self.a, name)
    }

    fn tensors(&mut self, name: &str) -> Result<(), ()> {
        self.cx.a_tensors(self.a, name).map(|_| ())
    }

    fn given(&self, name: &str) -> bool {
        !matches!(self.a.get(name).0, Val::None)
    }

    fn width_of(&self, name: &str) -> Option<DimExpr> {
        match self.a.get(name).0 {
            Val::Tensor(value) => Some(DimExpr::Of { value, axis: -1 }),
            _ => None,
        }
    }
}
