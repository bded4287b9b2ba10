//! A stable, compact text dump of the AST for snapshot tests: one item or statement per line, expressions as
//! fully parenthesised S-expressions, spans as `@start..end`. Changing this format rewrites snapshots, so keep
//! it boring.

use std::fmt::Write;

use super::ast::*;

/// Dumps a whole file.
pub fn dump(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        item_line(&mut out, item);
    }
    out
}

fn item_line(out: &mut String, item: &Item) {
    match item {
        Item::Import(i) => {
            let src = match &i.source {
                ImportSource::Std(m) => format!("std.{}", m.name),
                ImportSource::Path { path, .. } => format!("{path:?}"),
            };
            let names: Vec<String> = i
                .names
                .iter()
                .map(|n| match n.kind {
                    Some(k) => format!("{} {}", k.keyword(), n.name.name),
                    None => n.name.name.clone(),
                })
                .collect();
            let _ = writeln!(
                out,
                "import {src} {{{}}} @{}",
                names.join(", "),
                span(i.span)
            );
        }
        Item::Block(b) => {
            let ports: Vec<String> = b.ports.iter().map(port).collect();
            let outs: Vec<String> = b
                .outputs
                .iter()
                .map(|o| match &o.name {
                    Some(n) => format!("{}: {}", n.name, tensor_type(&o.ty)),
                    None => tensor_type(&o.ty),
                })
                .collect();
            let _ = writeln!(
                out,
                "block {}({}) -> ({}) @{}",
                b.name.name,
                ports.join(", "),
                outs.join(", "),
                span(b.span)
            );
            stmts(out, &b.body, 1);
        }
        Item::Model(m) => {
            let _ = writeln!(out, "model {} @{}", m.name.name, span(m.span));
            stmts(out, &m.body, 1);
        }
        Item::Data(d) => {
            let _ = writeln!(out, "data {} @{}", d.name.name, span(d.span));
            for f in &d.fields {
                let _ = writeln!(
                    out,
                    "  field {}: {} = {}",
                    f.name.name,
                    tensor_type(&f.ty),
                    expr(&f.source)
                );
            }
            for s in &d.settings {
                let _ = writeln!(out, "  {} = {}", s.key.name, expr(&s.value));
            }
        }
        Item::Train(t) => {
            match &t.name {
                Some(n) => {
                    let _ = writeln!(out, "train {} @{}", n.name, span(t.span));
                }
                None => {
                    let _ = writeln!(out, "train @{}", span(t.span));
                }
            }
            for e in &t.entries {
                train_entry(out, e);
            }
        }
    }
}

fn train_entry(out: &mut String, e: &TrainEntry) {
    match e {
        TrainEntry::Setting(s) => {
            let _ = writeln!(out, "  {} = {}", s.key.name, expr(&s.value));
        }
        TrainEntry::Optimizer { name, value, .. } => {
            let _ = writeln!(out, "  optimizer {} = {}", name.name, expr(value));
        }
        TrainEntry::Step {
            name,
            objective,
            using,
            ..
        } => {
            let n = name.as_ref().map(|n| n.name.as_str()).unwrap_or("_");
            let u = using
                .as_ref()
                .map(|u| format!(" using {}", u.name))
                .unwrap_or_default();
            let _ = writeln!(out, "  step {n} minimize {}{u}", expr(objective));
        }
    }
}

fn port(p: &Port) -> String {
    let ty = match &p.kind {
        PortKind::Tensor { ty, variadic } => {
            format!("{}{}", tensor_type(ty), if *variadic { "..." } else { "" })
        }
        PortKind::Value(v) => value_type(v),
    };
    match &p.default {
        Some(d) => format!("{}: {ty} = {}", p.name.name, expr(d)),
        None => format!("{}: {ty}", p.name.name),
    }
}

fn tensor_type(t: &TensorTypeExpr) -> String {
    let dims: Vec<String> = t.dims.iter().map(expr).collect();
    format!("{}[{}]", t.dtype.name, dims.join(", "))
}

fn value_type(v: &ValueTypeExpr) -> String {
    match v {
        ValueTypeExpr::Named(i) => i.name.clone(),
        ValueTypeExpr::List(e, _) => format!("[{}]", value_type(e)),
    }
}

fn stmts(out: &mut String, body: &[Stmt], depth: usize) {
    for s in body {
        stmt(out, s, depth);
    }
}

fn stmt(out: &mut String, s: &Stmt, depth: usize) {
    let pad = "  ".repeat(depth);
    let line = match s {
        Stmt::Let {
            name,
            shared,
            value,
            ..
        } => {
            format!(
                "let {}{} = {}",
                if *shared { "shared " } else { "" },
                name.name,
                expr(value)
            )
        }
        Stmt::Input { name, ty, .. } => format!("input {}: {}", name.name, tensor_type(ty)),
        Stmt::Param {
            name, ty, default, ..
        } => {
            format!(
                "param {}: {} = {}",
                name.name,
                value_type(ty),
                expr(default)
            )
        }
        Stmt::Output { name, value, .. } => format!("output {} = {}", name.name, expr(value)),
        Stmt::Loss { name, value, .. } => format!("loss {} = {}", name.name, expr(value)),
        Stmt::Return { values, .. } => {
            let vs: Vec<String> = values
                .iter()
                .map(|(n, e)| match n {
                    Some(n) => format!("{} = {}", n.name, expr(e)),
                    None => expr(e),
                })
                .collect();
            format!("return {}", vs.join(", "))
        }
        Stmt::Assert { cond, message, .. } => match message {
            Some(m) => format!("assert {}, {}", expr(cond), expr(m)),
            None => format!("assert {}", expr(cond)),
        },
        Stmt::For {
            var, iter, body, ..
        } => {
            let _ = writeln!(out, "{pad}for {} in {}", var.name, expr(iter));
            return stmts(out, body, depth + 1);
        }
        Stmt::If {
            cond,
            then,
            otherwise,
            ..
        } => {
            let _ = writeln!(out, "{pad}if {}", expr(cond));
            stmts(out, then, depth + 1);
            if !otherwise.is_empty() {
                let _ = writeln!(out, "{pad}else");
                stmts(out, otherwise, depth + 1);
            }
            return;
        }
    };
    let _ = writeln!(out, "{pad}{line} @{}", span(s.span()));
}

/// An expression as an S-expression.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Float(x) => format!("{x:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::List(items) => format!(
            "[{}]",
            items.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Comprehension { elem, var, iter } => {
            format!("[{} for {} in {}]", expr(elem), var.name, expr(iter))
        }
        ExprKind::Range(a, b) => format!("({}..{})", expr(a), expr(b)),
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}={}", n.name, expr(&a.value)),
                    None => expr(&a.value),
                })
                .collect();
            format!("(call {} {})", expr(callee), args.join(" "))
        }
        ExprKind::Field(base, f) => format!("{}.{}", expr(base), f.name),
        ExprKind::Index(base, i) => format!("{}[{}]", expr(base), expr(i)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), expr(a), expr(b)),
        ExprKind::Unary(UnOp::Neg, a) => format!("(neg {})", expr(a)),
        ExprKind::Unary(UnOp::Not, a) => format!("(not {})", expr(a)),
        ExprKind::As(a, name) => format!("(as {} {})", expr(a), name.name),
    }
}

fn span(s: crate::source::Span) -> String {
    format!("{}..{}", s.start, s.end)
}
