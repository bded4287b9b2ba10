//! One open document compiled as a root file, as `fusec check` compiles it (no `--set`, no optimization, the
//! memory budget checked): its diagnostics, the syntax trees and scopes of every file it reads (for hover,
//! definition and completion, available as soon as the files parse) and, when it checks, the checked program
//! (for dtypes, shapes and parameter counts).

use crate::api;
use crate::diag::Diagnostics;
use crate::front::{self, Compiled};
use crate::lower::modules::{load_program, Loaded};
use crate::source::{FileId, SourceMap};
use crate::syntax::ast::Item;

use super::documents::{Document, Documents, OverlayLoader};
use super::uri;

pub struct Analysis {
    /// The root document's URI.
    pub uri: String,
    /// The files as parsed, with their scopes; `None` when the root file itself did not read or parse.
    pub loaded: Option<Loaded>,
    /// The checked program, when the whole file checks.
    pub compiled: Option<Compiled>,
    /// Every diagnostic `fusec check` prints for the file (errors of the first stage that failed, warnings).
    pub diagnostics: Diagnostics,
    /// The sources the diagnostics point into.
    pub diag_sources: SourceMap,
}

pub fn analyze(docs: &Documents, doc: &Document) -> Analysis {
    let loader = OverlayLoader {
        docs,
        disk: uri::file_path(&doc.uri).is_some(),
    };
    let loaded = Some(load_program(&loader, &doc.path)).filter(|l| !l.modules.is_empty());
    let (compiled, diagnostics, diag_sources) = match front::compile(&loader, &doc.path, &[], false)
    {
        Ok(c) => {
            let mut diags = c.warnings.clone();
            if let Err(over_budget) = api::check_memory(&c) {
                diags.extend(over_budget);
            }
            let sources = c.program.sources.clone();
            (Some(c), diags, sources)
        }
        Err(f) => (None, f.diagnostics, f.sources),
    };
    // The IR's spans index the compile's sources and the trees' spans the load's: the same loader reads the
    // same files in the same order, unless a file changed on disk in between; then no types are shown.
    let compiled = compiled.filter(|c| {
        loaded
            .as_ref()
            .is_some_and(|l| same_files(&l.sources, &c.program.sources))
    });
    Analysis {
        uri: doc.uri.clone(),
        loaded,
        compiled,
        diagnostics,
        diag_sources,
    }
}

fn same_files(a: &SourceMap, b: &SourceMap) -> bool {
    a.files().count() == b.files().count()
        && a.files()
            .zip(b.files())
            .all(|((_, x), (_, y))| x.name == y.name && x.text == y.text)
}

impl Analysis {
    /// The file of this analysis that `uri` names, if it read one.
    pub fn file_of(&self, docs: &Documents, uri: &str) -> Option<FileId> {
        let loaded = self.loaded.as_ref()?;
        loaded
            .sources
            .files()
            .find(|(_, f)| docs.uri_of_source(&f.name, f.is_std).as_deref() == Some(uri))
            .map(|(id, _)| id)
    }

    /// Whether this analysis read the file the compiler knows as `path`.
    pub fn reads(&self, path: &str) -> bool {
        self.diag_sources.files().any(|(_, f)| f.name == path)
            || self
                .loaded
                .as_ref()
                .is_some_and(|l| l.sources.files().any(|(_, f)| f.name == path))
    }

    /// The index of the module parsed from `file`: the root is module 0 even when it is empty.
    pub fn module_of(&self, file: FileId) -> Option<usize> {
        let loaded = self.loaded.as_ref()?;
        if file == FileId(0) {
            return Some(0);
        }
        loaded.modules.iter().position(|m| {
            m.ast
                .items
                .first()
                .is_some_and(|item| item_span(item).file == file)
        })
    }

    /// The URI of a file of this analysis.
    pub fn uri_of(&self, docs: &Documents, file: FileId) -> Option<String> {
        let f = self.loaded.as_ref()?.sources.get(file)?;
        docs.uri_of_source(&f.name, f.is_std)
    }

    /// The text of a file of this analysis (as it was compiled).
    pub fn text_of(&self, file: FileId) -> Option<&str> {
        Some(self.loaded.as_ref()?.sources.get(file)?.text.as_str())
    }
}

pub fn item_span(item: &Item) -> crate::source::Span {
    match item {
        Item::Import(i) => i.span,
        Item::Block(b) => b.span,
        Item::Model(m) => m.span,
        Item::Data(d) => d.span,
        Item::Train(t) => t.span,
    }
}
