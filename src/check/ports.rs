//! Declared port types of block instances against the values actually passed in and returned: each port's
//! symbols are variables of its instance, bound by the first value and checked against every later use.

use std::collections::HashSet;

use super::infer::ModelChecker;
use super::unify::VarKey;
use crate::diag::Diagnostic;
use crate::ir::{Dim, DimExpr, Dtype, TensorType, Value};
use crate::source::Span;

/// One declared port of one block instance, with the values bound to it (several for a variadic port).
#[derive(Clone, Debug)]
pub struct PortDecl<'a> {
    pub instance: usize,
    pub name: &'a str,
    pub values: &'a [Value],
    pub dtype: Dtype,
    pub dims: &'a [DimExpr],
    /// A block output (checked against what the body returns) rather than an input.
    pub output: bool,
    pub variadic: bool,
    pub span: Option<Span>,
}

/// Checks every port of every instance: inputs first (they bind the symbols), then outputs. Returns the
/// instances that got a wrong argument.
pub fn check_ports(ck: &mut ModelChecker, decls: &[PortDecl]) -> HashSet<usize> {
    let mut ordered: Vec<&PortDecl> = decls.iter().filter(|d| !d.output).collect();
    ordered.extend(decls.iter().filter(|d| d.output));
    let mut bad = HashSet::new();
    for decl in ordered {
        let shared = shared_symbols(decls, decl);
        for (i, v) in decl.values.iter().enumerate() {
            if !check_value(ck, decl, &shared, i, *v) && !decl.output {
                bad.insert(decl.instance);
            }
        }
    }
    bad
}

/// Symbols of a variadic port that also appear in another port of the same instance: those are one dim for
/// every element (the batch `B`); the others are bound per element.
fn shared_symbols<'a>(decls: &'a [PortDecl], decl: &PortDecl) -> HashSet<&'a str> {
    let mut out = HashSet::new();
    for other in decls
        .iter()
        .filter(|o| o.instance == decl.instance && o.name != decl.name)
    {
        for d in other.dims {
            if let DimExpr::Sym(s) = d {
                out.insert(s.as_str());
            }
        }
    }
    out
}

/// Checks one value against its port; false if it does not fit (and was reported).
fn check_value(
    ck: &mut ModelChecker,
    decl: &PortDecl,
    shared: &HashSet<&str>,
    i: usize,
    v: Value,
) -> bool {
    // A value that failed earlier was reported there.
    let Some(actual) = ck.shapes.types.get(&v).cloned() else {
        return true;
    };
    let mut problem = actual.dtype != decl.dtype || actual.rank() != decl.dims.len();
    let mut shown = Vec::with_capacity(decl.dims.len());
    for (axis, e) in decl.dims.iter().enumerate() {
        let found = actual.dims.get(axis);
        let want = match e {
            DimExpr::Any => None,
            DimExpr::Sym(s) => {
                let name = if decl.variadic && !shared.contains(s.as_str()) {
                    format!("{s}#{i}")
                } else {
                    s.clone()
                };
                let key = VarKey {
                    scope: decl.instance,
                    name,
                };
                match found {
                    Some(f) if !problem => match ck.unifier.bind(&key, f) {
                        Ok(()) => Some(f.clone()),
                        Err(c) => {
                            problem = true;
                            Some(c.expected)
                        }
                    },
                    _ => ck.unifier.lookup(&key).or(Some(Dim::Sym(s.clone()))),
                }
            }
            other => ck.eval(other, Some(decl.instance)).ok(),
        };
        if let (Some(w), Some(f)) = (&want, found) {
            problem |= w != f;
        }
        shown.push(want.map(|d| d.to_string()).unwrap_or_else(|| e.to_string()));
    }
    if problem {
        report(ck, decl, i, v, &actual, &shown);
    }
    !problem
}

fn report(
    ck: &mut ModelChecker,
    decl: &PortDecl,
    i: usize,
    v: Value,
    actual: &TensorType,
    shown: &[String],
) {
    let block = ck.model.blocks.get(decl.instance);
    let (block_name, call_site) = match block {
        Some(b) => (b.block.clone(), Some(b.call_site)),
        None => (String::from("?"), None),
    };
    let expected = format!("{}[{}]", decl.dtype, shown.join(", "));
    let which = if decl.name.is_empty() {
        String::from("the result")
    } else if decl.variadic {
        format!("element {i} of `{}`", decl.name)
    } else {
        format!("`{}`", decl.name)
    };
    let role = if decl.output { "output" } else { "input" };
    let msg = if decl.name.is_empty() {
        format!("{which} of `{block_name}` should be {expected}, found {actual}")
    } else {
        format!("{role} {which} of `{block_name}` expects {expected}, found {actual}")
    };
    let def = ck.model.graph.node(v.node);
    let mut d = Diagnostic::error("fusec::shape::mismatch", msg)
        .label(def.span, format!("this is {actual}"));
    if let Some(span) = decl.span {
        d = d.label(span, format!("declared as {expected}"));
    }
    if let Some(site) = call_site {
        d = d.label(site, format!("`{block_name}` called here"));
    }
    let help = if actual.dtype != decl.dtype {
        format!("the port takes {} tensors", decl.dtype)
    } else {
        String::from("a symbol in a port type takes the dim of the first value bound to it; fixed dims must match exactly")
    };
    ck.diags.push(d.help(help));
}

/// The declared port types lowering recorded for every block instance (`BlockInstance::inputs`, `outputs`).
pub fn port_decls(model: &crate::ir::Model) -> Vec<PortDecl<'_>> {
    let mut out = Vec::new();
    for (k, b) in model.blocks.iter().enumerate() {
        for (ports, output) in [(&b.inputs, false), (&b.outputs, true)] {
            for p in ports {
                out.push(PortDecl {
                    instance: k,
                    name: &p.name,
                    values: &p.values,
                    dtype: p.dtype,
                    dims: &p.dims,
                    output,
                    variadic: p.values.len() > 1,
                    span: Some(p.span),
                });
            }
        }
    }
    out
}
