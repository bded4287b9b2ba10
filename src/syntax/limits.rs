//! Limits that keep the recursive parser and evaluator within the stack on any input: bracket nesting is
//! checked on the text before pest runs, expression depth on the AST after it.

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

use super::ast::{Expr, ExprKind, File, Item, Stmt};

/// Largest source file accepted, in bytes: the biggest stdlib file is under 20 KiB, and the parser's memory
/// grows with the file (pest keeps two tokens per rule entered, up to 300 bytes per source byte for dense
/// expressions), so 2 MiB stays well under 1 GB.
pub const MAX_SOURCE_BYTES: usize = 2 << 20;

/// Deepest bracket nesting accepted.
pub const MAX_NESTING: usize = 32;
/// Deepest expression tree accepted (operator chains count one level per operator).
pub const MAX_EXPR_DEPTH: usize = 128;

/// A file longer than [`MAX_SOURCE_BYTES`] is refused before parsing.
pub fn size_error(file: FileId, text: &str) -> Option<Diagnostic> {
    (text.len() > MAX_SOURCE_BYTES).then(|| {
        Diagnostic::error(
            "fusec::limit::source",
            format!(
                "this file has {} bytes, more than the limit of {MAX_SOURCE_BYTES}",
                text.len()
            ),
        )
        .label(Span::new(file, 0, 0), "in this file")
        .help(
            "a .fuse file describes a model, not data: split it into files that import each other",
        )
    })
}

/// The first bracket that opens level `MAX_NESTING + 1`, outside strings and comments.
pub fn nesting_error(file: FileId, text: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let (mut in_str, mut in_comment, mut escaped) = (false, false, false);
    let mut prev = '\0';
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_str = true,
                '/' if prev == '/' => in_comment = true,
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(limit(
                            Span::new(file, i, i + 1),
                            "brackets nest too deeply",
                            MAX_NESTING,
                        ));
                    }
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    None
}

/// The first expression of the file deeper than `MAX_EXPR_DEPTH`.
pub fn depth_error(file: &File) -> Option<Diagnostic> {
    let too_deep = |e: &Expr| {
        (depth(e, 0) > MAX_EXPR_DEPTH).then(|| {
            limit(
                e.span,
                "this expression is too deeply nested",
                MAX_EXPR_DEPTH,
            )
        })
    };
    for item in &file.items {
        let found = match item {
            Item::Block(b) => b
                .ports
                .iter()
                .filter_map(|p| p.default.as_ref())
                .find_map(too_deep)
                .or_else(|| stmts(&b.body, &too_deep)),
            Item::Model(m) => stmts(&m.body, &too_deep),
            Item::Data(d) => d
                .settings
                .iter()
                .map(|s| &s.value)
                .chain(d.fields.iter().map(|f| &f.source))
                .find_map(too_deep),
            Item::Train(t) => t.entries.iter().find_map(|e| match e {
                super::ast::TrainEntry::Setting(s) => too_deep(&s.value),
                super::ast::TrainEntry::Optimizer { value, .. } => too_deep(value),
                super::ast::TrainEntry::Step { objective, .. } => too_deep(objective),
            }),
            Item::Import(_) => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn stmts(body: &[Stmt], check: &dyn Fn(&Expr) -> Option<Diagnostic>) -> Option<Diagnostic> {
    body.iter().find_map(|s| match s {
        Stmt::Let { value, .. } | Stmt::Output { value, .. } | Stmt::Loss { value, .. } => {
            check(value)
        }
        Stmt::Param { default, .. } => check(default),
        Stmt::Input { .. } => None,
        Stmt::For { iter, body, .. } => check(iter).or_else(|| stmts(body, check)),
        Stmt::If {
            cond,
            then,
            otherwise,
            ..
        } => check(cond)
            .or_else(|| stmts(then, check))
            .or_else(|| stmts(otherwise, check)),
        Stmt::Return { values, .. } => values.iter().find_map(|(_, e)| check(e)),
        Stmt::Assert { cond, message, .. } => {
            check(cond).or_else(|| message.as_ref().and_then(check))
        }
    })
}

/// Depth of an expression tree, giving up (returning a larger number) once past the limit, so the walk
/// itself stays shallow.
fn depth(e: &Expr, at: usize) -> usize {
    if at > MAX_EXPR_DEPTH {
        return at;
    }
    let d = |x: &Expr| depth(x, at + 1);
    let children = match &e.kind {
        ExprKind::List(items) => items.iter().map(d).max(),
        ExprKind::Comprehension { elem, iter, .. } => Some(d(elem).max(d(iter))),
        ExprKind::Range(a, b) | ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            Some(d(a).max(d(b)))
        }
        ExprKind::Call { callee, args } => Some(
            args.iter()
                .map(|a| d(&a.value))
                .max()
                .unwrap_or(at)
                .max(d(callee)),
        ),
        ExprKind::Field(a, _) | ExprKind::Unary(_, a) | ExprKind::As(a, _) => Some(d(a)),
        _ => None,
    };
    children.unwrap_or(at).max(at)
}

fn limit(span: Span, what: &str, max: usize) -> Diagnostic {
    Diagnostic::error("fusec::limit::nesting", what.to_string())
        .label(span, format!("more than {max} levels deep"))
        .help("split the expression into named steps: `a = ...`, then `b = f(a)`")
}
