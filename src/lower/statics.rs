//! Reading `data` and `train` declarations: their values are literal calls (`csv("f.csv", column = 3)`,
//! `adam(lr = 1e-3)`), names and constants, read straight from the AST with located errors.

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind};

use super::overrides::const_eval;
use super::value::Val;

/// A call's arguments bound to a signature: one optional expression per parameter.
pub struct StaticCall<'e> {
    pub name: String,
    pub span: Span,
    pub args: Vec<Option<&'e Expr>>,
}

impl<'e> StaticCall<'e> {
    pub fn arg(&self, i: usize) -> Option<&'e Expr> {
        self.args.get(i).copied().flatten()
    }
}

/// `e` as a call of one of `kinds` (name -> parameter names). Reports what is wrong and returns `None`.
pub fn static_call<'e>(
    e: &'e Expr,
    kinds: &[(&str, &[&str])],
    what: &str,
    diags: &mut Diagnostics,
) -> Option<StaticCall<'e>> {
    let kind_names: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
    let (name, args): (String, &[crate::syntax::ast::Arg]) = match &e.kind {
        ExprKind::Call { callee, args } => match &callee.kind {
            ExprKind::Name(n) => (n.clone(), args),
            _ => (String::new(), args),
        },
        ExprKind::Name(n) => (n.clone(), &[]),
        _ => (String::new(), &[]),
    };
    let Some((_, params)) = kinds.iter().find(|(k, _)| *k == name) else {
        let mut d = Diagnostic::error("fusec::value::kind", format!("expected {what}"))
            .label(e.span, "not one of the choices");
        let listed: Vec<String> = kind_names.iter().map(|k| format!("`{k}(...)`")).collect();
        d = match did_you_mean(&name, kind_names.iter().copied()) {
            Some(s) if !name.is_empty() => d.help(format!("did you mean `{s}`?")),
            _ => d.help(format!("write one of {}", listed.join(", "))),
        };
        diags.push(d);
        return None;
    };
    let bound = bind_static(&name, params, args, diags)?;
    Some(StaticCall {
        name,
        span: e.span,
        args: bound,
    })
}

/// Binds a literal call's arguments to parameter names: positional in order, then keywords.
fn bind_static<'e>(
    name: &str,
    params: &[&str],
    args: &'e [crate::syntax::ast::Arg],
    diags: &mut Diagnostics,
) -> Option<Vec<Option<&'e Expr>>> {
    let mut bound: Vec<Option<&Expr>> = vec![None; params.len()];
    let mut next = 0;
    let mut ok = true;
    let surplus = args
        .iter()
        .filter(|a| a.name.is_none())
        .count()
        .saturating_sub(params.len());
    for a in args {
        let slot = match &a.name {
            None if next < params.len() => {
                next += 1;
                Some(next - 1)
            }
            None if next == params.len() => {
                // One diagnostic at the first surplus argument, however many there are.
                next += 1;
                let msg = format!(
                    "`{name}` takes at most {} positional arguments, {} given",
                    params.len(),
                    params.len() + surplus
                );
                let label = if surplus == 1 {
                    "one too many".to_string()
                } else {
                    format!("the first of {} too many", crate::diag::thousands(surplus))
                };
                let d = Diagnostic::error("fusec::arity", msg)
                    .label(a.value.span, label)
                    .help(format!("the parameters are: {}", params.join(", ")));
                diags.push(d);
                None
            }
            None => None,
            Some(n) => {
                let found = params.iter().position(|p| *p == n.name);
                if found.is_none() {
                    let msg = format!("`{name}` has no parameter `{}`", n.name);
                    let d = Diagnostic::error("fusec::param::unknown", msg)
                        .label(n.span, "unknown parameter");
                    diags.push(match did_you_mean(&n.name, params.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("the parameters are: {}", params.join(", "))),
                    });
                }
                found
            }
        };
        let Some(slot) = slot else {
            ok = false;
            continue;
        };
        if bound[slot].replace(&a.value).is_some() {
            let d = Diagnostic::error(
                "fusec::param::duplicate",
                format!("`{}` is given twice", params[slot]),
            )
            .label(a.value.span, "given again here")
            .help("pass each argument once");
            diags.push(d);
            ok = false;
        }
    }
    ok.then_some(bound)
}

pub(crate) fn value(e: &Expr, diags: &mut Diagnostics) -> Option<Val> {
    match const_eval(e) {
        Ok(v) => Some(v),
        Err(d) => {
            diags.push(d.help("write a literal value here"));
            None
        }
    }
}

pub(crate) fn type_error(e: &Expr, expected: &str, found: &Val) -> Diagnostic {
    Diagnostic::error(
        "fusec::value::type",
        format!("expected {expected}, found {}", found.kind()),
    )
    .label(e.span, format!("this is {}", found.kind()))
    .help(format!("write {expected}"))
}

pub fn float(e: &Expr, diags: &mut Diagnostics) -> Option<f64> {
    let v = value(e, diags)?;
    let r = v.as_f64();
    if r.is_none() {
        diags.push(type_error(e, "a number", &v));
    }
    r
}

pub fn int(e: &Expr, diags: &mut Diagnostics) -> Option<i64> {
    match value(e, diags)? {
        Val::Int(n) => Some(n),
        v => {
            diags.push(type_error(e, "an int", &v));
            None
        }
    }
}

/// An int of at least `min`.
pub fn int_at_least(e: &Expr, min: i64, diags: &mut Diagnostics) -> Option<i64> {
    let n = int(e, diags)?;
    if n < min {
        diags.push(
            Diagnostic::error("fusec::value::range", format!("{n} is too small"))
                .label(e.span, format!("must be at least {min}"))
                .help(format!("write an int of at least {min}")),
        );
        return None;
    }
    Some(n)
}

/// An int in `min..=max`.
pub fn int_in_range(e: &Expr, min: i64, max: i64, diags: &mut Diagnostics) -> Option<i64> {
    let n = int_at_least(e, min, diags)?;
    if n > max {
        diags.push(
            Diagnostic::error("fusec::value::range", format!("{n} is too large"))
                .label(e.span, format!("must be at most {max}"))
                .help(format!("write an int from {min} to {max}")),
        );
        return None;
    }
    Some(n)
}

pub fn boolean(e: &Expr, diags: &mut Diagnostics) -> Option<bool> {
    match value(e, diags)? {
        Val::Bool(b) => Some(b),
        v => {
            diags.push(type_error(e, "`true` or `false`", &v));
            None
        }
    }
}

pub fn string(e: &Expr, diags: &mut Diagnostics) -> Option<String> {
    match (&e.kind, value(e, diags)?) {
        (ExprKind::Str(_), Val::Str(s)) => Some(s),
        (_, v) => {
            diags.push(type_error(e, "a string in quotes", &v));
            None
        }
    }
}

/// A bare name (`label`, `accuracy`).
pub fn name(e: &Expr, diags: &mut Diagnostics) -> Option<String> {
    if let ExprKind::Name(n) = &e.kind {
        return Some(n.clone());
    }
    diags.push(
        Diagnostic::error("fusec::value::type", "expected a name")
            .label(e.span, "not a name")
            .help("write a bare name, without quotes"),
    );
    None
}

/// A list of bare names.
pub fn names(e: &Expr, diags: &mut Diagnostics) -> Option<Vec<(String, Span)>> {
    let ExprKind::List(items) = &e.kind else {
        diags.push(
            Diagnostic::error("fusec::value::type", "expected a list of names")
                .label(e.span, "not a list")
                .help("write `[a, b, c]`"),
        );
        return None;
    };
    items
        .iter()
        .map(|i| name(i, diags).map(|n| (n, i.span)))
        .collect()
}

/// `a..b` with ints, as `(a, b)`.
pub fn range(e: &Expr, diags: &mut Diagnostics) -> Option<(i64, i64)> {
    if let ExprKind::Range(a, b) = &e.kind {
        let (a, b) = (int(a, diags)?, int(b, diags)?);
        if a >= 0 && b > a {
            return Some((a, b));
        }
    }
    diags.push(
        Diagnostic::error("fusec::value::type", "expected a column range `a..b`")
            .label(e.span, "not a non-empty range")
            .help("write `0..76` for columns 0 to 75"),
    );
    None
}
