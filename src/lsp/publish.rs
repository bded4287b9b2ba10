//! fusec's diagnostics as LSP diagnostics, and which lists to publish. Each diagnostic goes to the URI of the
//! file its primary label points into (a user file, an imported one, or a stdlib module's virtual URI) with the
//! same code and message as `fusec check`; the primary label's text, the help and the notes follow the message
//! on their own lines, and the other labels become related information. One that points into another file is
//! also shown in the root document at its label there (a stdlib error at the user's call site), so it is seen
//! where it can be fixed. Several open documents may import one file: a URI's list is the union of what every
//! root said about it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range,
    Uri,
};

use crate::diag::Severity;
use crate::source::{FileId, SourceMap, Span};

use super::analysis::Analysis;
use super::documents::Documents;
use super::position::LineIndex;

/// Diagnostics by URI.
pub type ByUri = BTreeMap<String, Vec<Diagnostic>>;

/// An analysis's diagnostics by URI; the root's URI is always present (an empty list clears it).
pub fn convert(a: &Analysis, docs: &Documents) -> ByUri {
    let mut locator = Locator {
        sources: &a.diag_sources,
        docs,
        lines: HashMap::new(),
    };
    let mut out = ByUri::new();
    out.insert(a.uri.clone(), Vec::new());
    for d in a.diagnostics.iter() {
        let primary = d.labels.first();
        let (uri, range) = primary
            .and_then(|l| locator.locate(l.span))
            .unwrap_or_else(|| (a.uri.clone(), Range::default()));
        let mut message = d.message.clone();
        if let Some(label) = primary.filter(|l| !l.message.is_empty()) {
            message.push('\n');
            message.push_str(&label.message);
        }
        if let Some(help) = &d.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        for note in &d.notes {
            message.push_str(&format!("\nnote: {note}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .skip(1)
            .filter_map(|l| {
                let (uri, range) = locator.locate(l.span)?;
                Some(DiagnosticRelatedInformation {
                    location: Location::new(parse_uri(&uri)?, range),
                    message: l.message.clone(),
                })
            })
            .collect();
        let diagnostic = Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("fusec".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Diagnostic::default()
        };
        if uri != a.uri {
            let in_root = d
                .labels
                .iter()
                .skip(1)
                .filter_map(|l| locator.locate(l.span))
                .find(|(u, _)| *u == a.uri);
            if let (Some((_, root_range)), Some(primary_uri)) = (in_root, parse_uri(&uri)) {
                let mut mirrored = diagnostic.clone();
                mirrored.range = root_range;
                let back = DiagnosticRelatedInformation {
                    location: Location::new(primary_uri, range),
                    message: "the error is here".to_string(),
                };
                mirrored
                    .related_information
                    .get_or_insert_with(Vec::new)
                    .insert(0, back);
                out.entry(a.uri.clone()).or_default().push(mirrored);
            }
        }
        out.entry(uri).or_default().push(diagnostic);
    }
    out
}

/// A URI string as `lsp_types` holds it (`None` if it does not parse, which the URIs made here always do).
pub fn parse_uri(uri: &str) -> Option<Uri> {
    uri.parse().ok()
}

/// Spans to (URI, range), each file's line index built once.
struct Locator<'a> {
    sources: &'a SourceMap,
    docs: &'a Documents,
    lines: HashMap<FileId, LineIndex<'a>>,
}

impl Locator<'_> {
    fn locate(&mut self, span: Span) -> Option<(String, Range)> {
        let file = self.sources.get(span.file)?;
        let uri = self.docs.uri_of_source(&file.name, file.is_std)?;
        let index = self
            .lines
            .entry(span.file)
            .or_insert_with(|| LineIndex::new(&file.text));
        Some((uri, index.range(span)))
    }
}

/// What every root last published, so a URI's list is the union over roots and a list that became empty is
/// cleared.
#[derive(Default)]
pub struct Published {
    by_root: HashMap<String, ByUri>,
}

impl Published {
    /// Records a root's diagnostics; returns each URI it published to, before or now, with its new list.
    pub fn update(&mut self, root: &str, new: ByUri) -> Vec<(String, Vec<Diagnostic>)> {
        let mut affected: BTreeSet<String> = new.keys().cloned().collect();
        if let Some(old) = self.by_root.insert(root.to_string(), new) {
            affected.extend(old.into_keys());
        }
        self.lists(affected)
    }

    /// Forgets a root (its document was closed); returns each URI it had published to with its new list.
    pub fn remove(&mut self, root: &str) -> Vec<(String, Vec<Diagnostic>)> {
        let mut affected = BTreeSet::from([root.to_string()]);
        if let Some(old) = self.by_root.remove(root) {
            affected.extend(old.into_keys());
        }
        self.lists(affected)
    }

    fn lists(&self, uris: BTreeSet<String>) -> Vec<(String, Vec<Diagnostic>)> {
        uris.into_iter()
            .map(|u| {
                let list = self.union(&u);
                (u, list)
            })
            .collect()
    }

    /// Every root's diagnostics for `uri`, without duplicates.
    fn union(&self, uri: &str) -> Vec<Diagnostic> {
        let mut all: Vec<Diagnostic> = Vec::new();
        for m in self.by_root.values() {
            for d in m.get(uri).into_iter().flatten() {
                if !all.contains(d) {
                    all.push(d.clone());
                }
            }
        }
        all
    }
}
