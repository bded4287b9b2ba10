//! Go to definition: a block name (called, imported, or a keyword argument's port) goes to its definition in a
//! user file or in the embedded stdlib, a value to where it is bound, an output field (`fusion.z`) to the
//! block's output declaration, and an import's module or path to that file.

use crate::lower::modules::{join, normalize};
use crate::source::{FileId, Span};
use crate::syntax::ast::{ExprKind, ImportSource};

use super::analysis::Analysis;
use super::occurrence::{find, resolve, Binding, Target};

/// The file and span a name at `offset` of `file` is defined at.
pub fn definition(a: &Analysis, file: FileId, offset: u32) -> Option<(FileId, Span)> {
    let loaded = a.loaded.as_ref()?;
    let module = &loaded.modules[a.module_of(file)?];
    let found = find(&module.ast, offset)?;
    let block_named = |name: &str| module.scope.get(name).map(|d| &d.ast);
    let span = match found.target {
        Target::Callee { name, .. } => block_named(name)?.name.span,
        Target::BlockName(b) => b.name.span,
        Target::ImportName { name, .. } => block_named(&name.name)?.name.span,
        Target::ImportSource(imp) => {
            let wanted = match &imp.source {
                ImportSource::Std(m) => format!("std/{}.fuse", m.name),
                ImportSource::Path { path, .. } => {
                    let importer = &loaded.sources.get(file)?.name;
                    let folder = importer.rsplit_once('/').map_or("", |(f, _)| f);
                    normalize(&join(folder, path))
                }
            };
            let (target, _) = loaded.sources.files().find(|(_, f)| f.name == wanted)?;
            Span::new(target, 0, 0)
        }
        Target::Value { name, local } => match local {
            Some(var) => var.span,
            None => resolve(found.body?, name, found.span.start)?.name().span,
        },
        Target::Bound(b) => b.name().span,
        Target::Keyword { callee, name } => {
            let block = block_named(callee)?;
            block
                .ports
                .iter()
                .find(|p| p.name.name == name.name)?
                .name
                .span
        }
        Target::Field { base, field } => {
            // `base` names a binding whose value is a block call: the field is one of that block's outputs.
            let ExprKind::Name(base_name) = &base.kind else {
                return None;
            };
            let Binding::Value { value, .. } = resolve(found.body?, base_name, base.span.start)?
            else {
                return None;
            };
            let call = match &value.kind {
                ExprKind::As(inner, _) => inner.as_ref(),
                _ => value,
            };
            let ExprKind::Call { callee, .. } = &call.kind else {
                return None;
            };
            let ExprKind::Name(callee) = &callee.kind else {
                return None;
            };
            let block = block_named(callee)?;
            let output = block
                .outputs
                .iter()
                .find(|o| o.name.as_ref().is_some_and(|n| n.name == field.name))?;
            output.name.as_ref()?.span
        }
    };
    Some((span.file, span))
}
