//! Statements of block and model bodies. Loops and conditions unroll at compile time; `if` and `for` bodies
//! share the enclosing scope (as in Python), so a loop can accumulate into a name bound before it.

use crate::diag::Diagnostic;
use crate::ir::{ModelInput, NamedValue, Op};
use crate::source::Span;
use crate::syntax::ast::{Expr, Ident, Stmt, TensorTypeExpr, ValueTypeExpr};

use super::cx::Cx;
use super::eval::not_a_list;
use super::value::Val;

impl Cx<'_> {
    pub fn run_body(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Let {
                name,
                shared,
                value,
                ..
            } => {
                let v = if *shared {
                    self.make_shared(name, value)
                } else {
                    self.eval(value, Some(&name.name))
                };
                self.bind(name, v.unwrap_or(Val::Poison));
            }
            Stmt::For {
                var, iter, body, ..
            } => self.for_loop(var, iter, body),
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => match self.eval(cond, None) {
                Ok(Val::Bool(true)) => self.run_body(then),
                Ok(Val::Bool(false)) => self.run_body(otherwise),
                Ok(other) => {
                    let d = Diagnostic::error(
                        "fusec::value::type",
                        format!("a condition must be a bool, found {}", other.kind()),
                    )
                    .label(cond.span, "not a bool")
                    .help("conditions are compile-time: compare parameters, `len(xs)` or numbers");
                    self.report(d);
                }
                Err(()) => {}
            },
            Stmt::Return { values, span } => self.ret(values, *span),
            Stmt::Assert {
                cond,
                message,
                span,
            } => self.assert(cond, message.as_ref(), *span),
            Stmt::Input { name, ty, span } => self.model_only(s, |cx| cx.input(name, ty, *span)),
            Stmt::Param {
                name, ty, default, ..
            } => self.model_only(s, |cx| cx.model_param(name, ty, default)),
            Stmt::Output { name, value, span } => {
                self.model_only(s, |cx| cx.named(name, value, *span, false))
            }
            Stmt::Loss { name, value, span } => {
                self.model_only(s, |cx| cx.named(name, value, *span, true))
            }
        }
    }

    fn model_only(&mut self, s: &Stmt, f: impl FnOnce(&mut Self)) {
        if self.frame().is_model {
            return f(self);
        }
        let what = match s {
            Stmt::Input { .. } => "input",
            Stmt::Param { .. } => "param",
            Stmt::Output { .. } => "output",
            _ => "loss",
        };
        let help = match what {
            "input" => "a block takes tensors as ports in its signature: `block B(x: f32[B, D])`",
            "param" => {
                "a block takes parameters in its signature: `block B(x: f32[B, D], size: int = 8)`"
            }
            _ => "a block returns its outputs: `return (z = ..., recon = ...)`",
        };
        let d = Diagnostic::error(
            "fusec::block::statement",
            format!("`{what}` is only allowed in a model"),
        )
        .label(s.span(), "inside a block")
        .help(help);
        self.report(d);
    }

    fn for_loop(&mut self, var: &Ident, iter: &Expr, body: &[Stmt]) {
        let items = match self.eval(iter, None) {
            Ok(Val::List(items)) => items,
            Ok(other) => return self.report(not_a_list(iter.span, &other)),
            Err(()) => return,
        };
        for (i, item) in items.into_iter().enumerate() {
            if self.step(iter.span).is_err() {
                return;
            }
            self.frame_mut().loop_idx.push(i);
            self.bind_local(&var.name, var.span, item, false);
            self.run_body(body);
            self.frame_mut().loop_idx.pop();
        }
    }

    fn assert(&mut self, cond: &Expr, message: Option<&Expr>, span: Span) {
        let text = match message.map(|m| self.eval(m, None)) {
            Some(Ok(Val::Str(s))) => s,
            Some(Ok(other)) => other.kind().to_string(),
            Some(Err(())) => return,
            None => "assertion failed".to_string(),
        };
        match self.eval(cond, None) {
            Ok(Val::Bool(true)) | Err(()) => {}
            Ok(Val::Bool(false)) => {
                let d = Diagnostic::error("fusec::assert", text)
                    .label(span, "this check failed")
                    .help("change the arguments of the call so the check holds");
                self.report(d);
            }
            Ok(other) => {
                let d = Diagnostic::error(
                    "fusec::value::type",
                    format!("`assert` needs a bool, found {}", other.kind()),
                )
                .label(cond.span, "not a bool")
                .help("assert a comparison of compile-time values");
                self.report(d);
            }
        }
    }

    fn ret(&mut self, values: &[(Option<Ident>, Expr)], span: Span) {
        if self.frame().is_model {
            let d = Diagnostic::error(
                "fusec::block::statement",
                "`return` is only allowed in a block",
            )
            .label(span, "inside a model")
            .help("a model names its results with `output name = ...` and `loss name = ...`");
            return self.report(d);
        }
        for (name, e) in values {
            let hint = name.as_ref().map(|n| n.name.as_str());
            let v = self.eval(e, hint).unwrap_or(Val::Poison);
            self.frame_mut().returns.push((name.clone(), v, e.span));
        }
    }

    fn input(&mut self, name: &Ident, ty: &TensorTypeExpr, span: Span) {
        if let Some(first) = self
            .inputs
            .iter()
            .find(|i| i.name == name.name)
            .map(|i| i.span)
        {
            return self.report(duplicate(&name.name, name.span, first));
        }
        let Ok((dtype, dims)) = self.tensor_type(ty) else {
            self.bind(name, Val::Poison);
            return;
        };
        let Ok(v) = self.emit(
            Op::Input(crate::ir::Input {
                name: name.name.clone(),
            }),
            &[],
            span,
            Some(&name.name),
            None,
        ) else {
            return;
        };
        self.inputs.push(ModelInput {
            name: name.name.clone(),
            node: v.node,
            dtype,
            dims,
            span,
        });
        self.bind_local(&name.name, name.span, Val::Tensor(v), false);
    }

    fn model_param(&mut self, name: &Ident, ty: &ValueTypeExpr, default: &Expr) {
        let v = match self.overrides.take(&name.name, self.diags) {
            Some((v, at)) => Ok((v, at)),
            None => self.eval(default, None).map(|v| (v, default.span)),
        };
        let v = match v {
            Ok((v, at)) => self
                .check_value_type(ty, v, at, &name.name)
                .unwrap_or(Val::Poison),
            Err(()) => Val::Poison,
        };
        self.bind_local(&name.name, name.span, v, false);
    }

    /// `output name = expr` or `loss name = expr`.
    fn named(&mut self, name: &Ident, value: &Expr, span: Span, loss: bool) {
        let list = if loss { &self.losses } else { &self.outputs };
        if let Some(first) = list.iter().find(|o| o.name == name.name).map(|o| o.span) {
            return self.report(duplicate(&name.name, name.span, first));
        }
        let v = self.eval(value, Some(&name.name));
        match v {
            Ok(Val::Tensor(t)) => {
                let nv = NamedValue {
                    name: name.name.clone(),
                    value: t,
                    span,
                };
                if loss {
                    self.losses.push(nv);
                } else {
                    self.outputs.push(nv);
                }
                self.bind_local(&name.name, name.span, Val::Tensor(t), false);
            }
            Ok(other) => {
                let what = if loss { "a loss" } else { "an output" };
                let d = Diagnostic::error(
                    "fusec::value::type",
                    format!("{what} must be a tensor, found {}", other.kind()),
                )
                .label(value.span, "not a tensor")
                .help(if other.kind().starts_with("a record") {
                    "pick one output of the call: `f.z`"
                } else {
                    "name a tensor"
                });
                self.report(d);
                self.bind_local(&name.name, name.span, Val::Poison, false);
            }
            Err(()) => self.bind_local(&name.name, name.span, Val::Poison, false),
        }
    }
}

fn duplicate(name: &str, at: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::name::duplicate",
        format!("`{name}` is declared twice"),
    )
    .label(at, "declared again here")
    .label(first, "first declared here")
    .help("give each input, output and loss its own name")
}
