//! Lowering of primitive calls through the op registry (`crate::ops::PRIMITIVES`): binds the arguments by the
//! primitive's signature, fills defaults, lets its declaration read the values into an `ir::Op` (through
//! [`ArgReader`], `prim_args.rs`), and emits one node whose operands are the tensor arguments in signature order.
//! Size arguments stay `DimExpr`s for the checker to fold.

use crate::diag::Diagnostic;
use crate::ir::{Op, Scalar, Value};
use crate::ops::{self, Def, Kind, PrimDecl, Returns};
use crate::source::Span;

use super::call::ArgVal;
use super::cx::Cx;
use super::eval::Ev;
use super::value::Val;

/// Whether `name` is a primitive of the language.
pub fn is_primitive(name: &str) -> bool {
    ops::primitive(name).is_some()
}

/// Bound arguments of one primitive call, with typed accessors that report errors.
pub(super) struct Args {
    pub(super) prim: &'static str,
    pub(super) vals: Vec<(&'static str, Val, Span)>,
}

impl Args {
    pub(super) fn get(&self, name: &str) -> (Val, Span) {
        self.vals
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, s)| (v.clone(), *s))
            .unwrap_or((Val::None, Span::default()))
    }
}

impl Cx<'_> {
    /// Lowers one call of the primitive `name`. `shared` is the parameter owner of a shared primitive instance.
    pub fn prim(
        &mut self,
        name: &str,
        mut args: Vec<ArgVal>,
        span: Span,
        hint: Option<&str>,
        shared: Option<String>,
    ) -> Ev {
        let Some(decl) = ops::primitive(name) else {
            return self.fail(Diagnostic::error(
                "fusec::internal",
                format!("`{name}` is not a primitive"),
            ));
        };
        if decl.gathers {
            gather_rest(&mut args, span);
        }
        let names: Vec<&str> = decl.params.iter().map(|p| p.name).collect();
        let bound = self.bind_args(decl.name, &names, args, span)?;
        let mut vals = Vec::with_capacity(decl.params.len());
        let mut ok = true;
        for (param, arg) in decl.params.iter().zip(bound) {
            let (val, at) = match (arg, param.default) {
                (Some(a), _) => (a.val, a.span),
                (None, Def::Required) => {
                    let d = Diagnostic::error(
                        "fusec::param::missing",
                        format!("`{}` needs an argument for `{}`", decl.name, param.name),
                    )
                    .label(span, format!("`{}` is missing", param.name))
                    .help(format!("the parameters are: {}", names.join(", ")));
                    self.report(d);
                    ok = false;
                    continue;
                }
                (None, Def::None) => (Val::None, span),
                (None, Def::Int(i)) => (Val::Int(i), span),
                (None, Def::Float(f)) => (Val::Float(f), span),
                (None, Def::Bool(b)) => (Val::Bool(b), span),
                (None, Def::Str(s)) => (Val::Str(s.to_string()), span),
            };
            vals.push((param.name, val, at));
        }
        if !ok {
            return Err(());
        }
        let a = Args {
            prim: decl.name,
            vals,
        };
        let op = (decl.lower)(&mut prim_args::Reader { cx: self, a: &a })?;
        let operands = self.operands(decl, &a)?;
        let v = self.emit(op, &operands, span, hint, shared.as_deref())?;
        let n = self.graph.node(v.node).op.n_outputs();
        let port = |p: usize| Val::Tensor(Value::new(v.node, p as u16));
        Ok(match decl.returns {
            Returns::Tensor => Val::Tensor(v),
            Returns::List => Val::List((0..n).map(port).collect()),
            Returns::Record(names) => Val::Record(
                names
                    .iter()
                    .take(n)
                    .enumerate()
                    .map(|(p, name)| (name.to_string(), port(p)))
                    .collect(),
            ),
        })
    }

    /// The tensor arguments of a call, in signature order, skipping optional ones not given.
    fn operands(&mut self, decl: &PrimDecl, a: &Args) -> Result<Vec<Value>, ()> {
        let mut out = Vec::new();
        for (param, (name, v, at)) in decl.params.iter().zip(&a.vals) {
            match (param.kind, v) {
                (Kind::Value, _) => {}
                (Kind::Tensor | Kind::Target, Val::Tensor(t)) => out.push(*t),
                (Kind::Tensor, Val::None) if param.default == Def::None => {}
                // A number as a loss target is a constant target (`bce_with_logits(d_real, 1.0)`).
                (Kind::Target, Val::Int(_) | Val::Float(_)) => {
                    let value = v.as_f64().unwrap_or(0.0);
                    out.push(self.emit(Op::Scalar(Scalar { value }), &[], *at, None, None)?);
                }
                (Kind::Tensors, Val::List(items)) if !items.is_empty() => {
                    for item in items {
                        match item {
                            Val::Tensor(t) => out.push(*t),
                            _ => {
                                let what = "a non-empty list of tensors";
                                return self.fail(arg_type(a.prim, name, what, v, *at));
                            }
                        }
                    }
                }
                (Kind::Tensors, other) => {
                    let what = "a non-empty list of tensors";
                    return self.fail(arg_type(a.prim, name, what, other, *at));
                }
                (Kind::Tensor | Kind::Target, other) => {
                    return self.fail(arg_type(a.prim, name, "a tensor", other, *at))
                }
            }
        }
        Ok(out)
    }
}

/// `reshape(x, B, 4, 2)`: the positional arguments after the first form one list, the second argument.
fn gather_rest(args: &mut Vec<ArgVal>, span: Span) {
    if args.iter().filter(|a| a.name.is_none()).count() <= 2 {
        return;
    }
    let dims: Vec<ArgVal> = args.drain(1..).collect();
    let at = dims
        .first()
        .map(|d| d.span.to(dims[dims.len() - 1].span))
        .unwrap_or(span);
    args.push(ArgVal {
        name: None,
        val: Val::List(dims.into_iter().map(|d| d.val).collect()),
        span: at,
    });
}

#[path = "prim_args.rs"]
mod prim_args;

pub(super) fn arg_type(
    prim: &str,
    name: &str,
    expected: &str,
    found: &Val,
    at: Span,
) -> Diagnostic {
    Diagnostic::error(
        "fusec::param::type",
        format!(
            "`{name}` of `{prim}` expects {expected}, found {}",
            found.kind()
        ),
    )
    .label(at, format!("this is {}", found.kind()))
    .help(format!("pass {expected}"))
}
