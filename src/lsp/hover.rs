//! Hover: what a name is. A block (where it is called, defined or imported) shows its signature and header
//! comment, and at a call the instance the call made; a value shows the dtype and symbolic shape of what it holds
//! and the trainable parameters behind it, once per block instance when it sits in a block body; a keyword
//! argument shows the port it binds. Types and counts come from the checked IR, so they appear once the file
//! checks; the rest needs only that it parses.

use crate::front::Compiled;
use crate::lower::modules::Loaded;
use crate::source::{FileId, Span};
use crate::summary::commas;
use crate::syntax::ast::{Expr, ExprKind};

use super::analysis::Analysis;
use super::blocks::{block_info, block_markdown};
use super::ir_facts::{bound_to_port, instances_of, made_at, Fact};
use super::occurrence::{find, resolve, Binding, Body, Target};

/// At most this many instances are listed; the rest are counted.
const MAX_FACTS: usize = 10;
/// How many bindings a chain of plain renames (`a = b`) is followed through.
const MAX_RENAMES: usize = 8;

/// The hover text at `offset` of `file`, with the name's span; `typed` says whether it holds facts from the
/// checked IR (so a caller can prefer an analysis that knows them).
pub struct HoverText {
    pub markdown: String,
    pub span: Span,
    pub typed: bool,
}

pub fn hover(a: &Analysis, file: FileId, offset: u32) -> Option<HoverText> {
    let loaded = a.loaded.as_ref()?;
    let module = &loaded.modules[a.module_of(file)?];
    let found = find(&module.ast, offset)?;
    let compiled = a.compiled.as_ref();
    let (head, facts): (String, Option<Vec<Fact>>) = match found.target {
        Target::Callee { name, call } => {
            let facts = compiled.map(|c| made_at(c, call.span));
            if let Some(def) = module.scope.get(name) {
                (block_head(loaded, &def.ast), facts)
            } else {
                let prim = crate::ops::primitive(name)?;
                (primitive_head(prim), facts)
            }
        }
        Target::BlockName(b) => {
            let facts = compiled.map(|c| instances_of(c, &b.name.name, file));
            (block_head(loaded, b), facts)
        }
        Target::ImportName { name, .. } => {
            let def = module.scope.get(&name.name)?;
            (block_head(loaded, &def.ast), None)
        }
        Target::ImportSource(_) => return None,
        Target::Value { name, local } => {
            let binding = match local {
                Some(var) => Binding::Loop { name: var },
                None => resolve(found.body?, name, found.span.start)?,
            };
            describe_binding(loaded, compiled, found.body, binding)
        }
        Target::Bound(binding) => describe_binding(loaded, compiled, found.body, binding),
        Target::Keyword { callee, name } => {
            let head = match module.scope.get(callee) {
                Some(def) => {
                    let text = loaded.sources.get(def.ast.span.file)?.text.as_str();
                    let info = block_info(&def.ast, text);
                    let (_, decl) = info.ports.iter().find(|(n, _)| *n == name.name)?;
                    format!(
                        "```fuse\n{}: {decl}\n```\nargument of `{}`",
                        name.name, info.name
                    )
                }
                None => {
                    let prim = crate::ops::primitive(callee)?;
                    let p = prim.params.iter().find(|p| p.name == name.name)?;
                    format!(
                        "```fuse\n{}\n```\nargument of the primitive `{callee}`",
                        primitive_param(p)
                    )
                }
            };
            (head, None)
        }
        Target::Field { base, field } => {
            let facts = compiled.map(|c| {
                let mut facts = expr_facts(c, found.body, base, 0);
                for f in &mut facts {
                    f.outputs.retain(|(n, _)| *n == field.name);
                }
                facts.retain(|f| !f.outputs.is_empty());
                facts
            });
            (format!("**{}**", field.name), facts)
        }
    };
    let typed = facts.as_ref().is_some_and(|f| !f.is_empty());
    let mut markdown = head;
    match facts {
        Some(facts) if !facts.is_empty() => {
            markdown.push_str("\n\n---\n\n");
            markdown.push_str(&render_facts(&facts));
        }
        Some(_) => {}
        None if matches!(found.target, Target::Value { .. } | Target::Bound(_)) => {
            markdown.push_str("\n\n(dtype and shape appear once the file checks)");
        }
        None => {}
    }
    Some(HoverText {
        markdown,
        span: found.span,
        typed,
    })
}

fn block_head(loaded: &Loaded, block: &crate::syntax::ast::Block) -> String {
    let text = loaded
        .sources
        .get(block.span.file)
        .map_or("", |f| f.text.as_str());
    block_markdown(&block_info(block, text))
}

fn primitive_head(prim: &crate::ops::PrimDecl) -> String {
    let params: Vec<String> = prim.params.iter().map(primitive_param).collect();
    format!(
        "```fuse\n{}({})\n```\nprimitive",
        prim.name,
        params.join(", ")
    )
}

/// `out`, `bias = true`, `lengths = none`.
pub fn primitive_param(p: &crate::ops::PrimParam) -> String {
    use crate::ops::Def;
    match p.default {
        Def::Required => p.name.to_string(),
        Def::None => format!("{} = none", p.name),
        Def::Int(v) => format!("{} = {v}", p.name),
        Def::Float(v) => format!("{} = {v:?}", p.name),
        Def::Bool(v) => format!("{} = {v}", p.name),
        Def::Str(v) => format!("{} = {v:?}", p.name),
    }
}

/// A binding's title and what the IR made of it.
fn describe_binding(
    loaded: &Loaded,
    compiled: Option<&Compiled>,
    body: Option<Body<'_>>,
    binding: Binding<'_>,
) -> (String, Option<Vec<Fact>>) {
    let name = &binding.name().name;
    let snippet = |span: Span| {
        let text = loaded.sources.snippet(span);
        text.lines().next().unwrap_or("").trim().to_string()
    };
    match binding {
        Binding::Value { name: ident, value } => {
            // `name = value` as written (its first line); `value as name` names only the instance.
            let title = if ident.span.file == value.span.file && ident.span.start < value.span.end {
                let whole = Span::new(
                    ident.span.file,
                    ident.span.start as usize,
                    value.span.end as usize,
                );
                format!("```fuse\n{}\n```", snippet(whole))
            } else {
                format!("**{name}**")
            };
            (title, compiled.map(|c| expr_facts(c, body, value, 0)))
        }
        Binding::Input { span, .. } => (
            format!("```fuse\n{}\n```", snippet(span)),
            compiled.map(|c| made_at(c, span)),
        ),
        Binding::Param { span, .. } => (
            format!("```fuse\n{}\n```\ncompile-time parameter", snippet(span)),
            Some(Vec::new()),
        ),
        Binding::Port(p) => {
            let decl = format!("```fuse\n{}\n```\nport", snippet(p.span));
            match p.kind {
                crate::syntax::ast::PortKind::Tensor { .. } => {
                    (decl, compiled.map(|c| bound_to_port(c, p.span)))
                }
                crate::syntax::ast::PortKind::Value(_) => (decl, Some(Vec::new())),
            }
        }
        Binding::Loop { .. } => (format!("**{name}**: loop variable"), Some(Vec::new())),
    }
}

/// What the IR made of an expression: what was made at its span, or for a plain name (`z = h`) what its
/// binding holds.
fn expr_facts(c: &Compiled, body: Option<Body<'_>>, e: &Expr, depth: usize) -> Vec<Fact> {
    let e = match &e.kind {
        ExprKind::As(inner, _) => inner.as_ref(),
        _ => e,
    };
    let facts = made_at(c, e.span);
    if !facts.is_empty() || depth >= MAX_RENAMES {
        return facts;
    }
    match &e.kind {
        ExprKind::Name(name) => match body.and_then(|b| resolve(b, name, e.span.start)) {
            Some(Binding::Value { value, .. }) => expr_facts(c, body, value, depth + 1),
            Some(Binding::Input { span, .. }) => made_at(c, span),
            Some(Binding::Port(p)) => bound_to_port(c, p.span),
            _ => Vec::new(),
        },
        ExprKind::Field(base, field) => {
            let mut facts = expr_facts(c, body, base, depth + 1);
            for f in &mut facts {
                f.outputs.retain(|(n, _)| *n == field.name);
            }
            facts.retain(|f| !f.outputs.is_empty());
            facts
        }
        _ => Vec::new(),
    }
}

/// One line per fact: `` `fusion` · block AutoFusion · z `f32[B, 8]`, recon `f32[]` · 1,234 parameters``.
fn render_facts(facts: &[Fact]) -> String {
    let mut lines: Vec<String> = facts
        .iter()
        .take(MAX_FACTS)
        .map(|f| {
            let outputs: Vec<String> = f
                .outputs
                .iter()
                .map(|(name, ty)| {
                    if name.is_empty() {
                        format!("`{ty}`")
                    } else {
                        format!("{name} `{ty}`")
                    }
                })
                .collect();
            let plural = if f.params == 1 { "" } else { "s" };
            format!(
                "- `{}` · {} · {} · {} parameter{plural}",
                f.path,
                f.what,
                outputs.join(", "),
                commas(f.params)
            )
        })
        .collect();
    if facts.len() > MAX_FACTS {
        lines.push(format!("- … and {} more", facts.len() - MAX_FACTS));
    }
    lines.join("\n")
}
