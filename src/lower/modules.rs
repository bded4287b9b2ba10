//! Loading a program's files: the root file, its relative imports through the [`Loader`], and `std.X` modules
//! from the embedded stdlib. Each file is parsed once; its import list and its own blocks make its scope, and
//! its own and imported `data` / `train` sections its [`sections`](super::sections). Missing files, unknown
//! modules or names, clashes and import cycles are diagnosed here.

use std::collections::HashMap;
use std::rc::Rc;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::source::{LoadError, Loader, SourceMap, Span};
use crate::syntax::ast::{self, ImportSource, Item};
use crate::syntax::parse;

use super::sections::{visible_sections, Section, Visible};

/// A block definition together with the module whose scope its body resolves names in.
#[derive(Debug)]
pub struct BlockDef {
    pub ast: ast::Block,
    pub module: usize,
    pub is_std: bool,
}

/// One parsed file.
#[derive(Debug)]
pub struct Module {
    /// Folder of the file as the loader saw it ("" for the current folder); relative paths start there.
    pub folder: String,
    pub ast: ast::File,
    pub is_std: bool,
    /// Blocks visible in this file: its own and the imported ones.
    pub scope: HashMap<String, Rc<BlockDef>>,
    /// `data` and `train` sections visible in this file: the imported ones it does not extend, then its own.
    pub sections: Vec<Visible>,
}

/// Every module of a program; `modules[0]` is the root file.
pub struct Loaded {
    pub modules: Vec<Module>,
    pub sources: SourceMap,
    pub diags: Diagnostics,
}

/// Loads `path` and everything it imports.
pub fn load_program(loader: &dyn Loader, path: &str) -> Loaded {
    let mut st = State {
        loader,
        modules: Vec::new(),
        sources: SourceMap::default(),
        diags: Diagnostics::default(),
        done: HashMap::new(),
        stack: Vec::new(),
        project: folder_of(&normalize(path)),
    };
    let key = Key::File(normalize(path));
    if st.load(key, None).is_none() && st.diags.is_empty() {
        st.diags.push(Diagnostic::error(
            "fusec::import::missing",
            format!("cannot read `{path}`"),
        ));
    }
    Loaded {
        modules: st.modules,
        sources: st.sources,
        diags: st.diags,
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Key {
    Std(String),
    File(String),
}

impl Key {
    fn display(&self) -> String {
        match self {
            Key::Std(m) => format!("std/{m}.fuse"),
            Key::File(p) => p.clone(),
        }
    }
}

struct State<'a> {
    loader: &'a dyn Loader,
    modules: Vec<Module>,
    sources: SourceMap,
    diags: Diagnostics,
    done: HashMap<Key, Option<usize>>,
    /// Files being loaded, outermost first, with the span of the import that led to the next one.
    stack: Vec<Key>,
    /// The root file's folder: imports stay inside its tree.
    project: String,
}

impl State<'_> {
    /// Loads one file (once) and returns its module index; `None` if it could not be read or parsed.
    fn load(&mut self, key: Key, at: Option<Span>) -> Option<usize> {
        if let Some(done) = self.done.get(&key) {
            return *done;
        }
        if let Some(pos) = self.stack.iter().position(|k| *k == key) {
            let mut chain: Vec<String> = self.stack[pos..].iter().map(Key::display).collect();
            chain.push(key.display());
            let mut d = Diagnostic::error(
                "fusec::import::cycle",
                format!("import cycle: {}", chain.join(" -> ")),
            )
            .help(
                "move what both files need (blocks or sections) into a third file that both import",
            );
            if let Some(at) = at {
                d = d.label(at, "this import closes the cycle");
            }
            self.diags.push(d);
            return None;
        }
        let text = crate::source::normalize_line_endings(self.read(&key, at)?);
        let is_std = matches!(key, Key::Std(_));
        let file = self.sources.add(key.display(), text.clone(), is_std);
        let ast = match parse(file, &text) {
            Ok(ast) => ast,
            Err(d) => {
                self.diags.extend(d);
                self.done.insert(key, None);
                return None;
            }
        };
        let folder = match &key {
            Key::File(p) => folder_of(p),
            Key::Std(_) => String::new(),
        };
        let idx = self.modules.len();
        self.modules.push(Module {
            folder,
            ast,
            is_std,
            scope: HashMap::new(),
            sections: Vec::new(),
        });
        self.stack.push(key.clone());
        let (scope, sections) = self.build_scope(idx);
        self.stack.pop();
        self.modules[idx].scope = scope;
        self.modules[idx].sections = sections;
        self.done.insert(key, Some(idx));
        Some(idx)
    }

    fn read(&mut self, key: &Key, at: Option<Span>) -> Option<String> {
        let result = match key {
            Key::Std(m) => crate::stdlib::source(m).map(str::to_string).ok_or_else(|| {
                let mut d = Diagnostic::error(
                    "fusec::import::unknown_module",
                    format!("there is no module `std.{m}`"),
                );
                let names: Vec<&str> = crate::stdlib::names().collect();
                d = match did_you_mean(m, names.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `std.{s}`?")),
                    None => d.help(format!("the standard modules are {}", names.join(", "))),
                };
                d
            }),
            Key::File(p) if at.is_none() => self.loader.load_root(p).map_err(|mut e| {
                if e.code == "fusec::import::missing" {
                    e.help = "check the path of the file to compile".to_string();
                }
                e.to_diagnostic()
            }),
            Key::File(p) => read_import(self.loader, p, &self.project),
        };
        match result {
            Ok(t) => Some(t),
            Err(mut d) => {
                if let Some(at) = at {
                    d = d.label(at, "imported here");
                }
                self.diags.push(d);
                self.done.insert(key.clone(), None);
                None
            }
        }
    }

    /// Own blocks plus imported ones, and the visible sections; duplicates and clashes are errors.
    fn build_scope(&mut self, idx: usize) -> (HashMap<String, Rc<BlockDef>>, Vec<Visible>) {
        let is_std = self.modules[idx].is_std;
        let mut scope: HashMap<String, (Rc<BlockDef>, Span)> = HashMap::new();
        let items = self.modules[idx].ast.items.clone();
        for item in &items {
            if let Item::Block(b) = item {
                let def = Rc::new(BlockDef {
                    ast: b.clone(),
                    module: idx,
                    is_std,
                });
                if let Some((_, first)) = scope.get(&b.name.name) {
                    self.diags.push(duplicate_block(&b.name, *first));
                    continue;
                }
                scope.insert(b.name.name.clone(), (def, b.name.span));
            }
        }
        let mut sections: Vec<(Rc<Section>, Span)> = Vec::new();
        for item in &items {
            if let Item::Import(imp) = item {
                self.import(idx, imp, &mut scope, &mut sections);
            }
        }
        let visible = visible_sections(idx, &items, &sections, &mut self.diags);
        let blocks = scope.into_iter().map(|(k, (v, _))| (k, v)).collect();
        (blocks, visible)
    }

    fn import(
        &mut self,
        idx: usize,
        imp: &ast::Import,
        scope: &mut HashMap<String, (Rc<BlockDef>, Span)>,
        sections: &mut Vec<(Rc<Section>, Span)>,
    ) {
        let (key, at) = match &imp.source {
            ImportSource::Std(m) => (Key::Std(m.name.clone()), m.span),
            ImportSource::Path { path, span } => {
                if self.modules[idx].is_std {
                    let d = Diagnostic::error(
                        "fusec::import::std_relative",
                        "a standard module cannot import a file",
                    )
                    .label(*span, "relative import in a standard module")
                    .help("standard modules import only `std.X` modules");
                    self.diags.push(d);
                    return;
                }
                let joined = join(&self.modules[idx].folder, path);
                (Key::File(normalize(&joined)), *span)
            }
        };
        let Some(target) = self.load(key.clone(), Some(at)) else {
            return;
        };
        for entry in &imp.names {
            let name = &entry.name;
            let block = match entry.kind {
                None => self.modules[target]
                    .scope
                    .get(&name.name)
                    .filter(|d| d.module == target)
                    .cloned(),
                Some(_) => None,
            };
            let found: Vec<Rc<Section>> = self.modules[target]
                .sections
                .iter()
                .map(|v| &v.section)
                .filter(|s| s.module == target && s.name.as_deref() == Some(name.name.as_str()))
                .filter(|s| entry.kind.is_none_or(|k| k == s.kind))
                .cloned()
                .collect();
            if block.is_none() && found.is_empty() {
                self.diags
                    .push(unknown_import(&self.modules[target], target, &key, entry));
                continue;
            }
            for section in found {
                self.import_section(section, name, sections);
            }
            let Some(def) = block else { continue };
            match scope.get(&name.name) {
                Some((existing, _)) if Rc::ptr_eq(existing, &def) => {}
                Some((_, first)) => {
                    let d = Diagnostic::error(
                        "fusec::import::clash",
                        format!("`{}` is already defined", name.name),
                    )
                    .label(name.span, "imported here")
                    .label(*first, "first defined here")
                    .help("rename one of the blocks, or import only one of them");
                    self.diags.push(d);
                }
                None => {
                    scope.insert(name.name.clone(), (def, name.span));
                }
            }
        }
    }

    /// Adds an imported section; another section of the same kind and name imported before is a clash.
    fn import_section(
        &mut self,
        section: Rc<Section>,
        name: &ast::Ident,
        sections: &mut Vec<(Rc<Section>, Span)>,
    ) {
        let same = sections
            .iter()
            .find(|(s, _)| s.kind == section.kind && s.name == section.name);
        match same {
            Some((existing, _)) if Rc::ptr_eq(existing, &section) => {}
            Some((_, first)) => {
                let kw = section.kind.keyword();
                let d = Diagnostic::error(
                    "fusec::import::clash",
                    format!("{kw} section `{}` is imported twice", name.name),
                )
                .label(name.span, "imported again here")
                .label(*first, "first imported here")
                .help(format!(
                    "import each kind of section from one file only: `{{data {0}}}` or `{{train {0}}}` brings one kind",
                    name.name
                ));
                self.diags.push(d);
            }
            None => sections.push((section, name.span)),
        }
    }
}

/// An imported name that the target file does not declare, with "did you mean" over what it does declare.
fn unknown_import(
    module: &Module,
    target: usize,
    key: &Key,
    entry: &ast::ImportName,
) -> Diagnostic {
    let name = &entry.name;
    let mut own: Vec<String> = Vec::new();
    if entry.kind.is_none() {
        own.extend(
            module
                .scope
                .iter()
                .filter(|(_, d)| d.module == target)
                .map(|(k, _)| k.clone()),
        );
    }
    own.extend(
        module
            .sections
            .iter()
            .map(|v| &v.section)
            .filter(|s| s.module == target && entry.kind.is_none_or(|k| k == s.kind))
            .filter_map(|s| s.name.clone()),
    );
    own.sort();
    own.dedup();
    let has_sections = module.sections.iter().any(|v| v.section.module == target);
    let what = match entry.kind {
        None if has_sections => "block or section".to_string(),
        None => "block".to_string(),
        Some(k) => format!("{} section", k.keyword()),
    };
    let d = Diagnostic::error(
        "fusec::import::unknown",
        format!("`{}` has no {what} `{}`", key.display(), name.name),
    )
    .label(name.span, "not defined there");
    match did_you_mean(&name.name, own.iter().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if own.is_empty() => d.help("it defines nothing that can be imported"),
        None => d.help(format!("it defines: {}", own.join(", "))),
    }
}

fn duplicate_block(name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::name::duplicate",
        format!("block `{}` is defined twice", name.name),
    )
    .label(name.span, "defined again here")
    .label(first, "first defined here")
    .help("give each block its own name")
}

/// Reads an imported file: a `.fuse` file inside the project's folder tree (the loader enforces the rest:
/// regular files only, size-capped, text).
fn read_import(loader: &dyn Loader, path: &str, project: &str) -> Result<String, Diagnostic> {
    if !path.ends_with(".fuse") {
        return Err(LoadError::to_diagnostic(LoadError::new(
            "fusec::import::not_fuse",
            format!("`{path}` is not a .fuse file"),
            "imports name .fuse files: `import \"lib/encoders.fuse\".{Encoder}`",
        )));
    }
    loader
        .load_import(path, project)
        .map_err(LoadError::to_diagnostic)
}

/// The folder part of a normalized path ("" for a bare file name).
fn folder_of(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(f, _)| {
            if f.is_empty() {
                "/".to_string()
            } else {
                f.to_string()
            }
        })
        .unwrap_or_default()
}

/// `folder/path`, or `path` when the folder is empty.
pub fn join(folder: &str, path: &str) -> String {
    if folder.is_empty() || path.starts_with('/') {
        path.to_string()
    } else {
        format!("{folder}/{path}")
    }
}

/// Removes `.` segments and folds `x/..` pairs, keeping leading `..` (paths stay relative).
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::{join, normalize};

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize("a/./b/../c.fuse"), "a/c.fuse");
        assert_eq!(normalize("./x.fuse"), "x.fuse");
        assert_eq!(normalize("a/../../x.fuse"), "../x.fuse");
        assert_eq!(normalize("/abs/../y.fuse"), "/y.fuse");
        assert_eq!(join("", "lib/x.fuse"), "lib/x.fuse");
        assert_eq!(
            join("examples/mfeat", "../shared.fuse"),
            "examples/mfeat/../shared.fuse"
        );
    }
}
