//! Compile-time builtins: `len(list)`, `dim(x, axis)`, `without(list, i)`, `sqrt(number)`, and `sum(list)` /
//! `max(list)` over a list (the tensor reductions `sum(x, axis)` / `max(x, axis)` are primitives).

use crate::diag::Diagnostic;
use crate::ir::DimExpr;
use crate::source::Span;
use crate::syntax::ast::BinOp;

use super::call::ArgVal;
use super::cx::Cx;
use super::eval::Ev;
use super::value::Val;

pub const NAMES: &[&str] = &[
    "len", "dim", "without", "sum", "max", "min", "range", "sqrt",
];

/// Whether a builtin (rather than the primitive of the same name) handles this call.
pub fn applies(name: &str, args: &[ArgVal]) -> bool {
    match name {
        "sum" | "max" => args.len() == 1 && matches!(args[0].val, Val::List(_)),
        _ => true,
    }
}

impl Cx<'_> {
    pub fn builtin(&mut self, name: &str, args: Vec<ArgVal>, span: Span, hint: Option<&str>) -> Ev {
        let params: &[&str] = match name {
            "dim" => &["x", "axis"],
            "without" => &["xs", "index"],
            "range" => &["start", "end"],
            "sqrt" => &["x"],
            _ => &["xs"],
        };
        let bound = self.bind_args(name, params, args, span)?;
        let mut vals = Vec::with_capacity(params.len());
        for (p, b) in params.iter().zip(bound) {
            match b {
                Some(a) => vals.push((a.val, a.span)),
                None => {
                    let d = Diagnostic::error(
                        "fusec::param::missing",
                        format!("`{name}` needs an argument for `{p}`"),
                    )
                    .label(span, format!("`{p}` is missing"))
                    .help(format!("call it as `{name}({})`", params.join(", ")));
                    return self.fail(d);
                }
            }
        }
        match (name, vals.as_slice()) {
            ("len", [(Val::List(xs), _)]) => Ok(Val::Int(xs.len() as i64)),
            ("dim", [(Val::Tensor(v), _), (Val::Int(axis), _)]) => Ok(Val::Dim(DimExpr::Of {
                value: *v,
                axis: *axis,
            })),
            ("without", [(Val::List(xs), _), (Val::Int(i), at)]) => self.without(xs, *i, *at),
            ("range", [(Val::Int(a), _), (Val::Int(b), _)]) => {
                let (a, b) = (*a, *b);
                if b.saturating_sub(a) > 100_000 {
                    let d = Diagnostic::error("fusec::limit::list", "this range is too long")
                        .label(span, "too long")
                        .help("ranges unroll at compile time");
                    return self.fail(d);
                }
                Ok(Val::List((a..b).map(Val::Int).collect()))
            }
            // MulT's embedding scale sqrt(d) for a compile-time width d.
            ("sqrt", [(Val::Int(x), _)]) if *x >= 0 => Ok(Val::Float((*x as f64).sqrt())),
            ("sqrt", [(Val::Float(x), _)]) if *x >= 0.0 => Ok(Val::Float(x.sqrt())),
            ("sum", [(Val::List(xs), at)]) => self.fold(xs.clone(), BinOp::Add, *at, hint),
            ("max" | "min", [(Val::List(xs), at)]) => self.extremum(name, xs, *at),
            _ => {
                let kinds: Vec<&str> = vals.iter().map(|(v, _)| v.kind()).collect();
                let d = Diagnostic::error(
                    "fusec::param::type",
                    format!("`{name}` cannot take {}", kinds.join(" and ")),
                )
                .label(span, "wrong kinds of arguments")
                .help(match name {
                    "len" => "`len(list)`",
                    "dim" => "`dim(tensor, axis)` with an int axis",
                    "without" => "`without(list, index)` with an int index",
                    "range" => "`range(start, end)` with ints",
                    "sqrt" => "`sqrt(number)` with a non-negative int or float",
                    _ => "pass a list",
                });
                self.fail(d)
            }
        }
    }

    fn without(&mut self, xs: &[Val], i: i64, at: Span) -> Ev {
        let n = xs.len() as i64;
        let k = if i < 0 { n + i } else { i };
        if k < 0 || k >= n {
            let d = Diagnostic::error(
                "fusec::value::index",
                format!("index {i} is out of range for a list of {n}"),
            )
            .label(at, "out of range")
            .help("negative indices count from the end");
            return self.fail(d);
        }
        Ok(Val::List(
            xs.iter()
                .enumerate()
                .filter(|(j, _)| *j as i64 != k)
                .map(|(_, v)| v.clone())
                .collect(),
        ))
    }

    /// `sum(list)`: numbers and dims fold; tensors become a chain of additions (the last named by `hint`).
    fn fold(&mut self, xs: Vec<Val>, op: BinOp, at: Span, hint: Option<&str>) -> Ev {
        let n = xs.len();
        let mut it = xs.into_iter();
        let Some(mut acc) = it.next() else {
            return Ok(Val::Int(0));
        };
        for (i, x) in it.enumerate() {
            let h = if i + 2 == n { hint } else { None };
            acc = self.binary(op, acc, x, at, h)?;
        }
        Ok(acc)
    }

    fn extremum(&mut self, name: &str, xs: &[Val], at: Span) -> Ev {
        let ints: Option<Vec<i64>> = xs
            .iter()
            .map(|x| if let Val::Int(i) = x { Some(*i) } else { None })
            .collect();
        let r = ints.and_then(|v| {
            if name == "max" {
                v.into_iter().max()
            } else {
                v.into_iter().min()
            }
        });
        match r {
            Some(v) => Ok(Val::Int(v)),
            None => {
                let d = Diagnostic::error(
                    "fusec::param::type",
                    format!("`{name}(list)` needs a non-empty list of ints"),
                )
                .label(at, "not a list of ints")
                .help("for a tensor reduction pass an axis: `max(x, axis = 1)`");
                self.fail(d)
            }
        }
    }
}
