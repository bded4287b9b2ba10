//! Lowering: the ASTs of a program's files become one `ir::Program`. Imports are resolved ([`modules`]), each
//! model's body is evaluated at compile time with every block call inlined under a hierarchical instance path
//! ([`cx`], [`eval`], [`block`], [`prims`]), and `data` / `train` declarations become `DataSpec` / `TrainPlan`
//! ([`data`], [`train`]). `--set` overrides apply throughout ([`overrides`]). Every error of the stage is
//! reported at once.

mod block;
mod builtins;
mod call;
mod cx;
mod data;
mod data_kfold;
mod data_split;
mod data_text;
mod eval;
mod model;
pub mod modules;
mod overrides;
mod prims;
pub mod sections;
mod statics;
mod stmt;
mod train;
mod types;
mod value;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::Program;
use crate::source::{Loader, SourceMap};
use crate::syntax::ast::Item;

/// Parses `path` and its imports (through `loader`; `std.X` from [`crate::stdlib`]), instantiates every model
/// and lowers the data sets and the train plan, applying `overrides` (`--set key=value`). Returns the program
/// with its warnings, or every error of the stage together with the sources they point into.
pub fn lower_program(
    loader: &dyn Loader,
    path: &str,
    overrides: &[(String, String)],
) -> Result<(Program, Diagnostics), (Diagnostics, SourceMap)> {
    let loaded = modules::load_program(loader, path);
    let (modules, mut sources, mut diags) = (loaded.modules, loaded.sources, loaded.diags);
    if diags.has_errors() || modules.is_empty() {
        return Err((diags, sources));
    }
    let mut ov = overrides::Overrides::new(overrides, &mut sources);
    let root = &modules[0];
    let mut models = Vec::new();
    let mut failed_models = Vec::new();
    let mut work = cx::Work::default();
    for item in &root.ast.items {
        let Item::Model(decl) = item else { continue };
        if let Some(first) = models
            .iter()
            .find(|m: &&crate::ir::Model| m.name == decl.name.name)
        {
            diags.push(
                Diagnostic::error(
                    "fusec::name::duplicate",
                    format!("model `{}` is defined twice", decl.name.name),
                )
                .label(decl.name.span, "defined again here")
                .label(first.span, "first defined here")
                .help("give each model its own name"),
            );
            continue;
        }
        match model::lower_model(&modules, &sources, &mut ov, &mut diags, 0, decl, &mut work) {
            Some(m) => models.push(m),
            None => failed_models.push(decl.name.name.clone()),
        }
    }
    let folder = modules::normalize(path)
        .rsplit_once('/')
        .map(|(f, _)| f.to_string())
        .unwrap_or_default();
    // The folder each file's relative data paths start from; the root's as it was named on the command line.
    let folders: Vec<String> = std::iter::once(folder)
        .chain(modules[1..].iter().map(|m| m.folder.clone()))
        .collect();
    let data = data::lower_data(root, &folders, &mut ov, &mut diags);
    let train = train::lower_train(root, &models, &failed_models, &data, &mut ov, &mut diags);
    ov.finish(&mut diags);
    if diags.has_errors() {
        return Err((diags, sources));
    }
    Ok((
        Program {
            models,
            data,
            train,
            sources,
        },
        diags,
    ))
}

/// "did you mean" help for a name among candidates, or a list of them.
pub(crate) fn suggest(d: Diagnostic, name: &str, candidates: &[String], what: &str) -> Diagnostic {
    match did_you_mean(name, candidates.iter().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if candidates.is_empty() => d.help(format!("there are no {what}")),
        None => d.help(format!("the {what} are: {}", candidates.join(", "))),
    }
}
