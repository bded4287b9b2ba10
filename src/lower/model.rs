//! Lowering of one `model` declaration: its body runs in the model frame; every block call inside is inlined
//! into the model's single graph.

use std::collections::HashSet;

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Graph, Model};
use crate::source::SourceMap;
use crate::syntax::ast::{ExprKind, ModelDecl, Stmt};

use super::cx::{Cx, Frame, Work};
use super::modules::Module;
use super::overrides::Overrides;
use super::types::{unknown_value_type, value_type_known};

/// Lowers a model; `None` if it had errors (they are in `diags`).
pub fn lower_model(
    modules: &[Module],
    sources: &SourceMap,
    overrides: &mut Overrides,
    diags: &mut Diagnostics,
    module: usize,
    decl: &ModelDecl,
    work: &mut Work,
) -> Option<Model> {
    let n_errors = diags.iter().filter(|d| d.is_error()).count();
    let mut cx = Cx {
        modules,
        sources,
        overrides,
        diags,
        graph: Graph::default(),
        blocks: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        losses: Vec::new(),
        named_scalars: Vec::new(),
        frames: Vec::new(),
        overflow: false,
        current_def: None,
        steps: 0,
        work,
        warned_unused: HashSet::new(),
        hinted_names: 0,
    };
    cx.warned_unused = cx
        .diags
        .iter()
        .filter(|d| d.code == "fusec::unused::name")
        .filter_map(|d| d.labels.first().map(|l| l.span))
        .collect();
    for s in &decl.body {
        if let Stmt::Param { ty, .. } = s {
            if !value_type_known(ty) {
                cx.report(unknown_value_type(ty));
            }
        }
    }
    cx.frames.push(Frame {
        module,
        scopes: vec![Default::default()],
        symbols: model_symbols(&decl.body),
        is_std: modules[module].is_std,
        is_model: true,
        ..Frame::default()
    });
    cx.run_body(&decl.body);
    cx.pop_scope();
    cx.frames.pop();
    let had_errors = cx.diags.iter().filter(|d| d.is_error()).count() > n_errors;
    if cx.outputs.is_empty() && cx.losses.is_empty() && !had_errors {
        let d = Diagnostic::warning(
            "fusec::model::empty",
            format!("model `{}` has no outputs and no losses", decl.name.name),
        )
        .label(decl.name.span, "nothing to compute")
        .help("add `output name = ...` or `loss name = ...`");
        cx.diags.push(d);
    }
    let model = Model {
        name: decl.name.name.clone(),
        span: decl.name.span,
        graph: cx.graph,
        inputs: cx.inputs,
        outputs: cx.outputs,
        losses: cx.losses,
        named_scalars: cx.named_scalars,
        blocks: cx.blocks,
    };
    let now = cx.diags.iter().filter(|d| d.is_error()).count();
    (now == n_errors).then_some(model)
}

/// Free names in the model's input types (`B`, `T`) that are not model parameters: the model's symbolic dims.
fn model_symbols(body: &[Stmt]) -> HashSet<String> {
    let params: HashSet<&str> = body
        .iter()
        .filter_map(|s| {
            if let Stmt::Param { name, .. } = s {
                Some(name.name.as_str())
            } else {
                None
            }
        })
        .collect();
    let mut syms = HashSet::new();
    for s in body {
        if let Stmt::Input { ty, .. } = s {
            for d in &ty.dims {
                if let ExprKind::Name(n) = &d.kind {
                    if n != "_" && !params.contains(n.as_str()) {
                        syms.insert(n.clone());
                    }
                }
            }
        }
    }
    syms
}
