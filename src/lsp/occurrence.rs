//! What is under the cursor: the innermost name at a byte offset of one parsed file (a block called, defined
//! or imported, a value used or bound, a keyword argument, an output field), with the model or block body it
//! sits in, and where a value name is bound. Purely syntactic: it works on any file that parses, whether or not
//! it checks.

use crate::source::Span;
use crate::syntax::ast::{
    Block, Expr, ExprKind, File, Ident, Import, Item, ModelDecl, Port, PortKind, Stmt,
};

/// The model or block whose body holds a name.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Model(&'a ModelDecl),
    Block(&'a Block),
}

impl<'a> Body<'a> {
    fn stmts(&self) -> &'a [Stmt] {
        match self {
            Body::Model(m) => &m.body,
            Body::Block(b) => &b.body,
        }
    }
}

/// Where a name gets its value.
#[derive(Clone, Copy)]
pub enum Binding<'a> {
    /// `name = value`, `output name = value`, `loss name = value`, or `value as name`.
    Value { name: &'a Ident, value: &'a Expr },
    /// `input name: type` (`span` is the statement's, which is the input node's).
    Input { name: &'a Ident, span: Span },
    /// `param name: type = default`.
    Param { name: &'a Ident, span: Span },
    /// A block's port.
    Port(&'a Port),
    /// A `for` loop's or a list comprehension's variable.
    Loop { name: &'a Ident },
}

impl<'a> Binding<'a> {
    pub fn name(&self) -> &'a Ident {
        match self {
            Binding::Value { name, .. }
            | Binding::Input { name, .. }
            | Binding::Param { name, .. }
            | Binding::Loop { name } => name,
            Binding::Port(p) => &p.name,
        }
    }
}

/// The kind of name under the cursor.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The callee of a call: a block or a primitive (`call` is the whole call expression).
    Callee { name: &'a str, call: &'a Expr },
    /// The name in `block Name(...)`.
    BlockName(&'a Block),
    /// A name in an import list.
    ImportName { name: &'a Ident },
    /// The module or path an import reads.
    ImportSource(&'a Import),
    /// A value used by name; `local` is the comprehension variable it refers to, if it is one.
    Value {
        name: &'a str,
        local: Option<&'a Ident>,
    },
    /// A name where it is bound.
    Bound(Binding<'a>),
    /// A keyword argument's name in a call of `callee`.
    Keyword { callee: &'a str, name: &'a Ident },
    /// `base.field`, on the field.
    Field { base: &'a Expr, field: &'a Ident },
}

/// A name under the cursor.
pub struct Found<'a> {
    pub target: Target<'a>,
    /// The name's own span (what a hover highlights).
    pub span: Span,
    pub body: Option<Body<'a>>,
}

/// The innermost name at `offset` (a cursor right after a name's last character is still on it).
pub fn find(file: &File, offset: u32) -> Option<Found<'_>> {
    let mut f = Finder {
        offset,
        body: None,
        locals: Vec::new(),
    };
    file.items.iter().find_map(|item| f.item(item))
}

/// The binding a value name refers to at `at` in `body`: the last binding of that name before it, else the first
/// one after it (a name bound later in a loop).
pub fn resolve<'a>(body: Body<'a>, name: &str, at: u32) -> Option<Binding<'a>> {
    let mut all = Vec::new();
    if let Body::Block(b) = body {
        all.extend(b.ports.iter().map(Binding::Port));
    }
    bindings(body.stmts(), at, &mut all);
    let named: Vec<Binding<'a>> = all.into_iter().filter(|b| b.name().name == name).collect();
    named
        .iter()
        .rev()
        .find(|b| b.name().span.start <= at)
        .or_else(|| named.first())
        .copied()
}

fn bindings<'a>(stmts: &'a [Stmt], at: u32, out: &mut Vec<Binding<'a>>) {
    for s in stmts {
        match s {
            Stmt::Let { name, value, .. }
            | Stmt::Output { name, value, .. }
            | Stmt::Loss { name, value, .. } => {
                out.push(Binding::Value { name, value });
            }
            Stmt::Input { name, span, .. } => out.push(Binding::Input { name, span: *span }),
            Stmt::Param { name, span, .. } => out.push(Binding::Param { name, span: *span }),
            Stmt::For {
                var, body, span, ..
            } => {
                if contains(*span, at) {
                    out.push(Binding::Loop { name: var });
                }
                bindings(body, at, out);
            }
            Stmt::If {
                then, otherwise, ..
            } => {
                bindings(then, at, out);
                bindings(otherwise, at, out);
            }
            Stmt::Return { .. } | Stmt::Assert { .. } => {}
        }
    }
}

fn contains(span: Span, offset: u32) -> bool {
    span.start <= offset && offset <= span.end
}

struct Finder<'a> {
    offset: u32,
    body: Option<Body<'a>>,
    /// Comprehension variables in scope, innermost last.
    locals: Vec<&'a Ident>,
}

impl<'a> Finder<'a> {
    fn found(&self, target: Target<'a>, span: Span) -> Option<Found<'a>> {
        Some(Found {
            target,
            span,
            body: self.body,
        })
    }

    fn item(&mut self, item: &'a Item) -> Option<Found<'a>> {
        match item {
            Item::Import(imp) => {
                if let Some(n) = imp
                    .names
                    .iter()
                    .find(|n| contains(n.name.span, self.offset))
                {
                    let target = Target::ImportName { name: &n.name };
                    return self.found(target, n.name.span);
                }
                let source_span = match &imp.source {
                    crate::syntax::ast::ImportSource::Std(m) => m.span,
                    crate::syntax::ast::ImportSource::Path { span, .. } => *span,
                };
                if contains(source_span, self.offset) {
                    return self.found(Target::ImportSource(imp), source_span);
                }
                None
            }
            Item::Block(b) => {
                if !contains(b.span, self.offset) {
                    return None;
                }
                self.body = Some(Body::Block(b));
                if contains(b.name.span, self.offset) {
                    return self.found(Target::BlockName(b), b.name.span);
                }
                for p in &b.ports {
                    if contains(p.name.span, self.offset) {
                        return self.found(Target::Bound(Binding::Port(p)), p.name.span);
                    }
                    if let PortKind::Tensor { ty, .. } = &p.kind {
                        if let Some(f) = self.exprs(&ty.dims) {
                            return Some(f);
                        }
                    }
                    if let Some(f) = p.default.as_ref().and_then(|d| self.expr(d)) {
                        return Some(f);
                    }
                }
                for o in &b.outputs {
                    if let Some(f) = self.exprs(&o.ty.dims) {
                        return Some(f);
                    }
                }
                self.stmts(&b.body)
            }
            Item::Model(m) => {
                if !contains(m.span, self.offset) {
                    return None;
                }
                self.body = Some(Body::Model(m));
                self.stmts(&m.body)
            }
            Item::Data(_) | Item::Train(_) => None,
        }
    }

    fn stmts(&mut self, stmts: &'a [Stmt]) -> Option<Found<'a>> {
        stmts.iter().find_map(|s| self.stmt(s))
    }

    fn stmt(&mut self, s: &'a Stmt) -> Option<Found<'a>> {
        if !contains(s.span(), self.offset) {
            return None;
        }
        match s {
            Stmt::Let { name, value, .. }
            | Stmt::Output { name, value, .. }
            | Stmt::Loss { name, value, .. } => {
                if contains(name.span, self.offset) {
                    return self.found(Target::Bound(Binding::Value { name, value }), name.span);
                }
                self.expr(value)
            }
            Stmt::Input { name, ty, span } => {
                if contains(name.span, self.offset) {
                    let b = Binding::Input { name, span: *span };
                    return self.found(Target::Bound(b), name.span);
                }
                self.exprs(&ty.dims)
            }
            Stmt::Param {
                name,
                default,
                span,
                ..
            } => {
                if contains(name.span, self.offset) {
                    let b = Binding::Param { name, span: *span };
                    return self.found(Target::Bound(b), name.span);
                }
                self.expr(default)
            }
            Stmt::For {
                var, iter, body, ..
            } => {
                if contains(var.span, self.offset) {
                    return self.found(Target::Bound(Binding::Loop { name: var }), var.span);
                }
                self.expr(iter).or_else(|| self.stmts(body))
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => self
                .expr(cond)
                .or_else(|| self.stmts(then))
                .or_else(|| self.stmts(otherwise)),
            Stmt::Return { values, .. } => values.iter().find_map(|(_, e)| self.expr(e)),
            Stmt::Assert { cond, message, .. } => self
                .expr(cond)
                .or_else(|| message.as_ref().and_then(|m| self.expr(m))),
        }
    }

    fn exprs(&mut self, es: &'a [Expr]) -> Option<Found<'a>> {
        es.iter().find_map(|e| self.expr(e))
    }

    fn expr(&mut self, e: &'a Expr) -> Option<Found<'a>> {
        if !contains(e.span, self.offset) {
            return None;
        }
        match &e.kind {
            ExprKind::Name(name) => {
                let local = self.locals.iter().rev().find(|v| v.name == *name).copied();
                self.found(Target::Value { name, local }, e.span)
            }
            ExprKind::Call { callee, args } => {
                if let ExprKind::Name(name) = &callee.kind {
                    if contains(callee.span, self.offset) {
                        return self.found(Target::Callee { name, call: e }, callee.span);
                    }
                    for a in args {
                        if let Some(k) = a.name.as_ref().filter(|k| contains(k.span, self.offset)) {
                            return self.found(
                                Target::Keyword {
                                    callee: name,
                                    name: k,
                                },
                                k.span,
                            );
                        }
                    }
                } else if let Some(f) = self.expr(callee) {
                    return Some(f);
                }
                args.iter().find_map(|a| self.expr(&a.value))
            }
            ExprKind::Field(base, field) => {
                if contains(field.span, self.offset) {
                    return self.found(Target::Field { base, field }, field.span);
                }
                self.expr(base)
            }
            ExprKind::As(inner, name) => {
                if contains(name.span, self.offset) {
                    let b = Binding::Value { name, value: inner };
                    return self.found(Target::Bound(b), name.span);
                }
                self.expr(inner)
            }
            ExprKind::Comprehension { elem, var, iter } => {
                if contains(var.span, self.offset) {
                    return self.found(Target::Bound(Binding::Loop { name: var }), var.span);
                }
                if let Some(f) = self.expr(iter) {
                    return Some(f);
                }
                self.locals.push(var);
                let f = self.expr(elem);
                self.locals.pop();
                f
            }
            ExprKind::List(items) => self.exprs(items),
            ExprKind::Range(a, b) | ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a).or_else(|| self.expr(b))
            }
            ExprKind::Unary(_, a) => self.expr(a),
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => None,
        }
    }
}
