//! Calls: dispatch on the callee (a shared instance, a block, a builtin or a primitive), binding of positional
//! and keyword arguments to a signature, and shared instances.

use std::rc::Rc;

use crate::diag::{did_you_mean, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident};

use super::cx::Cx;
use super::eval::Ev;
use super::value::{Callee, SharedInst, Val};

/// An evaluated call argument.
#[derive(Clone, Debug)]
pub struct ArgVal {
    pub name: Option<Ident>,
    pub val: Val,
    pub span: Span,
}

impl Cx<'_> {
    pub fn call(&mut self, callee: &Expr, args: &[Arg], span: Span, hint: Option<&str>) -> Ev {
        let ExprKind::Name(name) = &callee.kind else {
            let v = self.eval(callee, None)?;
            let args = self.eval_args(args)?;
            return self.apply_value(v, args, callee.span, span, hint);
        };
        // A local value shadows a block or primitive only if it can be called: a parameter named `dim` or
        // `dropout` must not hide the builtin or primitive of that name.
        let module = self.frame().module;
        let global = self.modules[module].scope.contains_key(name)
            || super::builtins::NAMES.contains(&name.as_str())
            || super::prims::is_primitive(name);
        match self.peek(name).cloned() {
            Some(v @ (Val::Shared(_) | Val::Poison)) => {
                self.lookup(name);
                let args = self.eval_args(args)?;
                return self.apply_value(v, args, callee.span, span, hint);
            }
            Some(v) if !global => {
                let args = self.eval_args(args)?;
                return self.apply_value(v, args, callee.span, span, hint);
            }
            _ => {}
        }
        let args = self.eval_args(args)?;
        if let Some(def) = self.modules[module].scope.get(name).cloned() {
            return self.instantiate(def, args, span, hint, None);
        }
        if super::builtins::NAMES.contains(&name.as_str()) && super::builtins::applies(name, &args)
        {
            return self.builtin(name, args, span, hint);
        }
        if let Some(prim) = crate::ops::primitive(name) {
            return self.prim(prim.name, args, span, hint, None);
        }
        self.fail_once("fusec::name::unknown", callee.span, |cx| {
            unknown_callee(cx, name, callee.span)
        })
    }

    fn apply_value(
        &mut self,
        v: Val,
        args: Vec<ArgVal>,
        at: Span,
        span: Span,
        hint: Option<&str>,
    ) -> Ev {
        match v {
            Val::Shared(s) => self.apply_shared(&s, args, span, hint),
            Val::Poison => Err(()),
            other => {
                let d = Diagnostic::error(
                    "fusec::value::not_callable",
                    format!("{} cannot be called", other.kind()),
                )
                .label(at, "not a block, primitive or shared instance")
                .help("only blocks, primitives and `shared` instances can be called");
                self.fail(d)
            }
        }
    }

    pub fn eval_args(&mut self, args: &[Arg]) -> Result<Vec<ArgVal>, ()> {
        let mut out = Vec::with_capacity(args.len());
        let mut failed = false;
        for a in args {
            match self.eval(&a.value, None) {
                Ok(val) => out.push(ArgVal {
                    name: a.name.clone(),
                    val,
                    span: a.value.span,
                }),
                Err(()) => failed = true,
            }
        }
        if failed {
            Err(())
        } else {
            Ok(out)
        }
    }

    /// `name = shared Call(args)`: records the callee and its arguments under the instance's parameter path.
    pub fn make_shared(&mut self, name: &Ident, value: &Expr) -> Ev {
        // `d = shared Discriminator(...) as disc` names the instance `disc`.
        let (name, value) = match &value.kind {
            ExprKind::As(inner, given) => (given, &**inner),
            _ => (name, value),
        };
        let ExprKind::Call { callee, args } = &value.kind else {
            return self.fail(shared_needs_call(value.span));
        };
        let ExprKind::Name(cname) = &callee.kind else {
            return self.fail(shared_needs_call(value.span));
        };
        let args = self.eval_args(args)?;
        let module = self.frame().module;
        let target = if let Some(def) = self.modules[module].scope.get(cname).cloned() {
            Callee::Block(def)
        } else if let Some(p) = crate::ops::primitive(cname) {
            Callee::Prim(p.name)
        } else {
            return self.fail_once("fusec::name::unknown", callee.span, |cx| {
                unknown_callee(cx, cname, callee.span)
            });
        };
        let local = self.local_name(Some(&name.name), "shared");
        let path = Cx::qualify(&self.frame().param_path, &local);
        let args = args
            .into_iter()
            .map(|a| (a.name.map(|n| n.name), a.val, a.span))
            .collect();
        Ok(Val::Shared(Rc::new(SharedInst {
            callee: target,
            args,
            path,
        })))
    }

    /// Applies a shared instance: the application's arguments first, then the ones given at creation.
    fn apply_shared(
        &mut self,
        s: &SharedInst,
        mut args: Vec<ArgVal>,
        span: Span,
        hint: Option<&str>,
    ) -> Ev {
        for (name, val, at) in &s.args {
            let name = name.as_ref().map(|n| Ident {
                name: n.clone(),
                span: *at,
            });
            args.push(ArgVal {
                name,
                val: val.clone(),
                span: *at,
            });
        }
        match &s.callee {
            Callee::Block(def) => {
                self.instantiate(def.clone(), args, span, hint, Some(s.path.clone()))
            }
            Callee::Prim(p) => self.prim(p, args, span, hint, Some(s.path.clone())),
        }
    }

    /// Binds arguments to parameter names: positional in order, then keywords. Unknown keywords, duplicates
    /// and surplus positional arguments are errors (all reported).
    pub fn bind_args(
        &mut self,
        callee: &str,
        params: &[&str],
        args: Vec<ArgVal>,
        span: Span,
    ) -> Result<Vec<Option<ArgVal>>, ()> {
        let mut bound: Vec<Option<ArgVal>> = vec![None; params.len()];
        let mut next = 0;
        let mut ok = true;
        // Surplus positional arguments: one diagnostic at the first, however many there are.
        let mut surplus: Option<(Span, usize)> = None;
        for a in args {
            let slot = match &a.name {
                None => {
                    if next >= params.len() {
                        let first = surplus.map_or(a.span, |(s, _)| s);
                        surplus = Some((first, surplus.map_or(1, |(_, n)| n + 1)));
                        ok = false;
                        continue;
                    }
                    next += 1;
                    next - 1
                }
                Some(n) => match params.iter().position(|p| *p == n.name) {
                    Some(i) => i,
                    None => {
                        self.report(unknown_param(callee, n, params));
                        ok = false;
                        continue;
                    }
                },
            };
            if bound[slot].is_some() {
                let d = Diagnostic::error(
                    "fusec::param::duplicate",
                    format!("`{}` is given twice", params[slot]),
                )
                .label(a.span, "given again here")
                .help("pass each argument once, by position or by name");
                self.report(d);
                ok = false;
                continue;
            }
            bound[slot] = Some(a);
        }
        if let Some((first, n)) = surplus {
            let d = Diagnostic::error(
                "fusec::arity",
                format!(
                    "`{callee}` takes at most {} positional arguments, {} given",
                    params.len(),
                    params.len() + n
                ),
            )
            .label(
                first,
                if n == 1 {
                    "one too many".to_string()
                } else {
                    format!("the first of {} too many", crate::diag::thousands(n))
                },
            )
            .help(format!("the parameters are: {}", params.join(", ")));
            self.report(d);
        }
        let _ = span;
        if ok {
            Ok(bound)
        } else {
            Err(())
        }
    }
}

fn unknown_param(callee: &str, n: &Ident, params: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(
        "fusec::param::unknown",
        format!("`{callee}` has no parameter `{}`", n.name),
    )
    .label(n.span, "unknown parameter");
    match did_you_mean(&n.name, params.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("the parameters are: {}", params.join(", "))),
    }
}

fn unknown_callee(cx: &Cx, name: &str, span: Span) -> Diagnostic {
    let f = cx.frame();
    let mut names: Vec<&str> = cx.modules[f.module]
        .scope
        .keys()
        .map(String::as_str)
        .collect();
    for prim in crate::ops::primitive_names() {
        names.push(prim);
    }
    names.extend(super::builtins::NAMES.iter().copied());
    let d = Diagnostic::error(
        "fusec::name::unknown",
        format!("unknown block or primitive `{name}`"),
    )
    .label(span, "not defined");
    match did_you_mean(name, names) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(
            "blocks come from this file or an `import`; primitives are listed in docs/LANGUAGE.md",
        ),
    }
}

fn shared_needs_call(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::value::shared",
        "`shared` needs a call of a block or primitive",
    )
    .label(span, "not a call")
    .help("write `d = shared Discriminator(hidden = 256)`, then apply it: `d(x)`")
}
