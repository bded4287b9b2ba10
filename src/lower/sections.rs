//! Reusable `data` and `train` sections. A file sees its own sections and the ones it imports by name
//! (`import "common.fuse".{mfeat}`); a section of its own with the name of an imported one of the same kind
//! extends it. Each section is a list of layers, the imported declaration first and each extension after it,
//! and [`Section::data`] / [`Section::train`] merge the layers into the one declaration that `data.rs` and
//! `train.rs` lower. Every entry keeps its span, so diagnostics point into the file that wrote it.
//!
//! Merge rules (docs/LANGUAGE.md, "Reusable sections"): a setting (`key = value`), a field, or an optimizer given
//! in a later layer replaces the earlier one of that key or name in place, and new ones are added after the
//! earlier ones; steps are one ordered list, so a layer that declares any `step` or `minimize` replaces the
//! earlier layers' steps as a whole.

use std::collections::HashSet;
use std::rc::Rc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::Span;
use crate::syntax::ast::{DataDecl, Item, SectionKind, TrainDecl, TrainEntry};

use super::suggest;

/// One file's declaration of a section.
#[derive(Debug)]
pub enum SectionDecl {
    Data(DataDecl),
    Train(TrainDecl),
}

/// One layer of a section: the declaration and the module (file) it is written in.
#[derive(Debug)]
pub struct Layer {
    pub module: usize,
    pub decl: SectionDecl,
}

/// A `data` or `train` section as a file sees it, extensions included.
#[derive(Debug)]
pub struct Section {
    pub kind: SectionKind,
    /// `None` for an unnamed `train { }` plan, which no other file can import.
    pub name: Option<String>,
    /// The file that declares the outermost layer: only it can export the section.
    pub module: usize,
    /// Oldest first: the section as first declared, then each extension of it.
    pub layers: Vec<Rc<Layer>>,
}

/// A section visible in a file, with the span of the import that brought it when the file only imports it.
#[derive(Clone, Debug)]
pub struct Visible {
    pub section: Rc<Section>,
    pub imported_at: Option<Span>,
}

impl Section {
    /// The name and span of the outermost layer's declaration.
    pub fn name_span(&self) -> Option<Span> {
        match &self.layers.last()?.decl {
            SectionDecl::Data(d) => Some(d.name.span),
            SectionDecl::Train(t) => t.name.as_ref().map(|n| n.span),
        }
    }

    /// The merged `data` declaration and the module whose folder the data set's paths are relative to: the
    /// layer that sets `path`, or the first layer when none does.
    pub fn data(&self) -> Option<(DataDecl, usize)> {
        let mut merged: Option<DataDecl> = None;
        let mut base_module = self.layers.first()?.module;
        for layer in &self.layers {
            let SectionDecl::Data(d) = &layer.decl else {
                return None;
            };
            if d.settings.iter().any(|s| s.key.name == "path") {
                base_module = layer.module;
            }
            merged = Some(match merged {
                None => d.clone(),
                Some(acc) => extend_data(acc, d),
            });
        }
        merged.map(|d| (d, base_module))
    }

    /// The merged `train` declaration.
    pub fn train(&self) -> Option<TrainDecl> {
        let mut merged: Option<TrainDecl> = None;
        for layer in &self.layers {
            let SectionDecl::Train(t) = &layer.decl else {
                return None;
            };
            merged = Some(match merged {
                None => t.clone(),
                Some(acc) => extend_train(acc, t),
            });
        }
        merged
    }
}

/// `base` extended by `ext`: fields replaced by name in place or added; settings replaced by key.
fn extend_data(base: DataDecl, ext: &DataDecl) -> DataDecl {
    let mut fields = base.fields;
    let n_base = fields.len();
    let mut replaced = HashSet::new();
    for f in &ext.fields {
        match fields[..n_base]
            .iter()
            .position(|x| x.name.name == f.name.name)
        {
            // A second field of the same name in one layer is kept, so lowering reports it as declared twice.
            Some(i) if replaced.insert(i) => fields[i] = f.clone(),
            _ => fields.push(f.clone()),
        }
    }
    let mut settings = base.settings;
    let n_base = settings.len();
    let mut replaced = HashSet::new();
    for s in &ext.settings {
        match settings[..n_base]
            .iter()
            .position(|x| x.key.name == s.key.name)
        {
            Some(i) if replaced.insert(i) => settings[i] = s.clone(),
            _ => settings.push(s.clone()),
        }
    }
    DataDecl {
        name: ext.name.clone(),
        fields,
        settings,
        span: ext.span,
    }
}

/// What a train entry is replaced by: a setting by its key, an optimizer by its name; steps are not keyed.
fn train_key(e: &TrainEntry) -> Option<(bool, &str)> {
    match e {
        TrainEntry::Setting(s) => Some((true, s.key.name.as_str())),
        TrainEntry::Optimizer { name, .. } => Some((false, name.name.as_str())),
        TrainEntry::Step { .. } => None,
    }
}

/// `base` extended by `ext`: settings and optimizers replaced in place or added; steps replaced as a whole.
fn extend_train(base: TrainDecl, ext: &TrainDecl) -> TrainDecl {
    let mut entries = base.entries;
    if ext
        .entries
        .iter()
        .any(|e| matches!(e, TrainEntry::Step { .. }))
    {
        entries.retain(|e| !matches!(e, TrainEntry::Step { .. }));
    }
    let n_base = entries.len();
    let mut replaced = HashSet::new();
    for e in &ext.entries {
        let at = train_key(e).and_then(|k| {
            entries[..n_base]
                .iter()
                .position(|x| train_key(x) == Some(k))
        });
        match at {
            Some(i) if replaced.insert(i) => entries[i] = e.clone(),
            _ => entries.push(e.clone()),
        }
    }
    TrainDecl {
        name: ext.name.clone(),
        entries,
        span: ext.span,
    }
}

/// The sections module `idx` sees: its own (each extending the imported section of its kind and name, if
/// any) and the imported ones it does not extend. Reports a section declared twice, and a field-less `data`
/// section, or a named `train` plan of the root file (`idx` 0), that extends nothing while the file imports
/// sections of its kind (a misspelt name).
pub fn visible_sections(
    idx: usize,
    items: &[Item],
    imported: &[(Rc<Section>, Span)],
    diags: &mut Diagnostics,
) -> Vec<Visible> {
    let mut own: Vec<Visible> = Vec::new();
    let mut extended: HashSet<usize> = HashSet::new();
    for item in items {
        let (kind, name, decl) = match item {
            Item::Data(d) => (
                SectionKind::Data,
                Some(&d.name),
                SectionDecl::Data(d.clone()),
            ),
            Item::Train(t) => (
                SectionKind::Train,
                t.name.as_ref(),
                SectionDecl::Train(t.clone()),
            ),
            _ => continue,
        };
        if let Some(n) = name {
            let first = own.iter().find(|v| {
                v.section.kind == kind && v.section.name.as_deref() == Some(n.name.as_str())
            });
            if let Some(first) = first.and_then(|v| v.section.name_span()) {
                let what = match kind {
                    SectionKind::Data => "data set",
                    SectionKind::Train => "train plan",
                };
                diags.push(
                    Diagnostic::error(
                        "fusec::name::duplicate",
                        format!("{what} `{}` is defined twice", n.name),
                    )
                    .label(n.span, "defined again here")
                    .label(first, "first defined here")
                    .help(format!("give each {what} its own name")),
                );
                continue;
            }
        }
        let base = name.and_then(|n| {
            imported
                .iter()
                .position(|(s, _)| s.kind == kind && s.name.as_deref() == Some(n.name.as_str()))
        });
        let mut layers = Vec::new();
        if let Some(i) = base {
            extended.insert(i);
            layers.extend(imported[i].0.layers.iter().cloned());
        } else if let Some(n) = name {
            // A field-less data set, or a named plan in the root file (which runs one plan), that extends
            // nothing while the file imports sections of its kind has a misspelt name. A library file may
            // declare new named plans beside imported ones.
            let misspelt = match item {
                Item::Data(d) => d.fields.is_empty(),
                _ => idx == 0,
            };
            if misspelt {
                if let Some(d) = unknown_extension(kind, n, imported) {
                    diags.push(d);
                    continue;
                }
            }
        }
        layers.push(Rc::new(Layer { module: idx, decl }));
        own.push(Visible {
            section: Rc::new(Section {
                kind,
                name: name.map(|n| n.name.clone()),
                module: idx,
                layers,
            }),
            imported_at: None,
        });
    }
    let mut out: Vec<Visible> = imported
        .iter()
        .enumerate()
        .filter(|(i, _)| !extended.contains(i))
        .map(|(_, (s, at))| Visible {
            section: s.clone(),
            imported_at: Some(*at),
        })
        .collect();
    out.extend(own);
    out
}

/// A section that extends nothing although the file imports sections of its kind: the name is probably
/// misspelt. `None` when the file imports no section of that kind.
pub fn unknown_extension(
    kind: SectionKind,
    name: &crate::syntax::ast::Ident,
    imported: &[(Rc<Section>, Span)],
) -> Option<Diagnostic> {
    let names: Vec<String> = imported
        .iter()
        .filter(|(s, _)| s.kind == kind)
        .filter_map(|(s, _)| s.name.clone())
        .collect();
    if names.is_empty() {
        return None;
    }
    let kw = kind.keyword();
    let d = Diagnostic::error(
        "fusec::section::unknown",
        format!("`{kw} {}` extends no imported {kw} section", name.name),
    )
    .label(name.span, "no imported section of this name");
    Some(suggest(
        d,
        &name.name,
        &names,
        &format!("imported {kw} sections"),
    ))
}
