//! `--set key=value` overrides. Each value is parsed as a .fuse expression in its own small source file (so a
//! bad value gets a located diagnostic); lowering takes a key when it meets the setting it names and records
//! every key it could have taken, so unknown keys get "did you mean" over all valid ones.

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::source::{SourceMap, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind, UnOp};
use crate::syntax::parse_expr;

use super::value::Val;

struct Entry {
    key: String,
    text: String,
    span: Span,
    used: bool,
}

pub struct Overrides {
    entries: Vec<Entry>,
    known: Vec<String>,
}

impl Overrides {
    /// Registers each value as a source file named `--set KEY`.
    pub fn new(list: &[(String, String)], sources: &mut SourceMap) -> Overrides {
        let entries = list
            .iter()
            .map(|(k, v)| {
                let file = sources.add(format!("--set {k}"), v.clone(), false);
                Entry {
                    key: k.clone(),
                    text: v.clone(),
                    span: Span::new(file, 0, v.len()),
                    used: false,
                }
            })
            .collect();
        Overrides {
            entries,
            known: Vec::new(),
        }
    }

    /// The raw text given for `key`, if any; records `key` as valid either way.
    pub fn take_text(&mut self, key: &str) -> Option<(String, Span)> {
        self.known.push(key.to_string());
        let e = self.entries.iter_mut().rev().find(|e| e.key == key)?;
        e.used = true;
        Some((e.text.clone(), e.span))
    }

    /// The value given for `key` as a compile-time value (a bare word is a string).
    pub fn take(&mut self, key: &str, diags: &mut Diagnostics) -> Option<(Val, Span)> {
        let (text, span) = self.take_text(key)?;
        let expr = match parse_expr(span.file, &text) {
            Ok(e) => e,
            Err(_) => return Some((Val::Str(text), span)),
        };
        match const_eval(&expr) {
            Ok(v) => Some((v, span)),
            Err(d) => {
                diags.push(d.help(format!(
                    "`--set {key}=...` takes a number, a bool, a string or a list"
                )));
                None
            }
        }
    }

    /// Unknown keys, with "did you mean" over every key lowering would have accepted.
    pub fn finish(self, diags: &mut Diagnostics) {
        for e in self.entries.iter().filter(|e| !e.used) {
            let mut d = Diagnostic::error(
                "fusec::set::unknown",
                format!("`--set {}`: no such setting", e.key),
            );
            d = match did_you_mean(&e.key, self.known.iter().map(String::as_str)) {
                Some(k) => d.help(format!("did you mean `{k}`?")),
                None => {
                    let mut keys = self.known.clone();
                    keys.sort();
                    keys.dedup();
                    let shown: Vec<String> = keys.into_iter().take(12).collect();
                    d.help(format!("valid keys include: {}", shown.join(", ")))
                }
            };
            diags.push(d);
        }
    }
}

/// Evaluates an expression made of literals only (numbers, bools, strings, lists, ranges, arithmetic). A bare
/// name evaluates to its text, so `--set act=tanh` works without quotes.
pub fn const_eval(e: &Expr) -> Result<Val, Diagnostic> {
    let not_const = || {
        Diagnostic::error("fusec::value::not_constant", "expected a constant value")
            .label(e.span, "not a constant")
    };
    Ok(match &e.kind {
        ExprKind::Int(n) => Val::Int(*n),
        ExprKind::Float(x) => Val::Float(*x),
        ExprKind::Bool(b) => Val::Bool(*b),
        ExprKind::Str(s) => Val::Str(s.clone()),
        ExprKind::Name(n) => Val::Str(n.clone()),
        ExprKind::List(items) => Val::List(items.iter().map(const_eval).collect::<Result<_, _>>()?),
        ExprKind::Unary(UnOp::Neg, a) => match const_eval(a)? {
            Val::Int(n) => Val::Int(n.checked_neg().ok_or_else(not_const)?),
            Val::Float(x) => Val::Float(-x),
            _ => return Err(not_const()),
        },
        ExprKind::Binary(op, a, b) => {
            let (x, y) = (const_eval(a)?, const_eval(b)?);
            match (x, y) {
                (Val::Int(x), Val::Int(y)) => Val::Int(int_op(*op, x, y).ok_or_else(not_const)?),
                (x, y) => match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => Val::Float(float_op(*op, x, y).ok_or_else(not_const)?),
                    _ => return Err(not_const()),
                },
            }
        }
        _ => return Err(not_const()),
    })
}

pub fn int_op(op: BinOp, x: i64, y: i64) -> Option<i64> {
    match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div if y != 0 => x.checked_div(y),
        BinOp::Rem if y != 0 => x.checked_rem(y),
        _ => None,
    }
}

pub fn float_op(op: BinOp, x: f64, y: f64) -> Option<f64> {
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        _ => return None,
    };
    r.is_finite().then_some(r)
}
