//! Diagnostics as data: every user error of every stage is a [`Diagnostic`] with a stable code, a message,
//! labelled spans and a help line. Rendering (miette's fancy report, or JSON lines for tools) happens in one place,
//! here, so wording and layout are consistent. A stage that can go on after an error collects them all in
//! [`Diagnostics`] and reports them together.

use std::fmt;

use miette::{LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::source::{SourceMap, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A labelled span. The first label of a diagnostic is its primary location.
#[derive(Clone, Debug, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    /// Stable code, e.g. `fusec::shape::mismatch`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Extra lines that have no location (a data file path and row, say).
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All diagnostics of a stage (errors and warnings), in the order they were found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

/// A diagnostic bound to the sources, ready for miette. Labels in the primary label's file are drawn on it;
/// labels in other files (a stdlib block's call site) become related reports on their own file.
struct Report<'a> {
    diag: &'a Diagnostic,
    /// Labels drawn on this report (all in one file, all inside `view`).
    labels: Vec<&'a Label>,
    related: Vec<Report<'a>>,
    view: Option<View>,
    /// Related reports carry only their labels.
    is_related: bool,
}

/// The text a report is drawn on: the whole file, or a window of one very long line (a generated file, a call
/// with a hundred thousand arguments), so rendering stays short and fast.
struct View {
    source: NamedSource<String>,
    /// Byte offset of the text's start in the file.
    base: usize,
    len: usize,
}

impl View {
    fn span(&self, span: Span) -> SourceSpan {
        let start = (span.start as usize)
            .saturating_sub(self.base)
            .min(self.len);
        let end = (span.end as usize)
            .saturating_sub(self.base)
            .clamp(start, self.len);
        SourceSpan::new(start.into(), end - start)
    }

    fn contains(&self, span: Span) -> bool {
        let start = span.start as usize;
        start >= self.base && start <= self.base + self.len
    }
}

impl<'a> Report<'a> {
    fn new(diag: &'a Diagnostic, sources: &'a SourceMap) -> Report<'a> {
        let primary = diag.labels.first().map(|l| l.span.file);
        let (here, elsewhere): (Vec<&Label>, Vec<&Label>) = diag
            .labels
            .iter()
            .take(MAX_LABELS)
            .partition(|l| Some(l.span.file) == primary);
        let related = elsewhere
            .into_iter()
            .map(|l| Report {
                diag,
                labels: vec![l],
                related: Vec::new(),
                view: view(sources, l.span),
                is_related: true,
            })
            .collect();
        let view = diag.labels.first().and_then(|l| view(sources, l.span));
        let labels = here
            .into_iter()
            .filter(|l| view.as_ref().is_some_and(|v| v.contains(l.span)))
            .collect();
        Report {
            diag,
            labels,
            related,
            view,
            is_related: false,
        }
    }
}

/// Lines longer than this are shown as a window around the label.
const MAX_LINE: usize = 300;

/// What a label's report is drawn on: its whole file (miette needs an owned copy; [`MAX_RENDERED`] bounds how
/// many are made), or a window of its line when that line is very long.
fn view(sources: &SourceMap, span: Span) -> Option<View> {
    let f = sources.get(span.file)?;
    let text = f.text.as_str();
    let at = (span.start as usize).min(text.len());
    let line_start = text[..floor(text, at)].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[floor(text, at)..]
        .find('\n')
        .map_or(text.len(), |i| floor(text, at) + i);
    if line_end - line_start <= MAX_LINE {
        return Some(View {
            source: NamedSource::new(f.name.clone(), f.text.clone()),
            base: 0,
            len: text.len(),
        });
    }
    let start = floor(text, at.saturating_sub(MAX_LINE / 3).max(line_start));
    let end = floor(text, (at + 2 * MAX_LINE / 3).min(line_end));
    let (line, _) = sources.line_col(span);
    Some(View {
        source: NamedSource::new(
            format!("{} (an excerpt of line {line})", f.name),
            text[start..end].to_string(),
        ),
        base: start,
        len: end - start,
    })
}

/// The largest char boundary at or before `i`.
fn floor(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_related {
            let label = self
                .labels
                .first()
                .map(|l| l.message.as_str())
                .unwrap_or("");
            return f.write_str(if label.is_empty() {
                "related location"
            } else {
                label
            });
        }
        f.write_str(&self.diag.message)?;
        for n in self.diag.notes.iter().take(MAX_LABELS) {
            write!(f, "\n  note: {n}")?;
        }
        let hidden = self.diag.labels.len().saturating_sub(MAX_LABELS)
            + self.diag.notes.len().saturating_sub(MAX_LABELS);
        if hidden > 0 {
            write!(
                f,
                "\n  note: … and {} more locations and notes",
                thousands(hidden)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.is_related {
            None
        } else {
            Some(Box::new(self.diag.code))
        }
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match (self.is_related, self.diag.severity) {
            (true, _) => miette::Severity::Advice,
            (false, Severity::Error) => miette::Severity::Error,
            (false, Severity::Warning) => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.is_related {
            return None;
        }
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.view
            .as_ref()
            .map(|v| &v.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(|(i, l)| {
            let text = if l.message.is_empty() {
                None
            } else {
                Some(l.message.clone())
            };
            let span = match &self.view {
                Some(v) => v.span(l.span),
                None => SourceSpan::new(0.into(), 0),
            };
            if i == 0 && !self.is_related {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        })))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

/// Most diagnostics rendered for people: the first ones of a long list are what a person reads, and rendering
/// is proportional to the file, so the rest are counted in one closing line.
pub const MAX_RENDERED: usize = 20;
/// Most labels drawn (and notes printed) for one diagnostic.
pub const MAX_LABELS: usize = 12;

/// Renders diagnostics as miette's graphical report, without colour (stable for snapshots and logs when
/// `color` is false): the first [`MAX_RENDERED`], then "… and N more".
pub fn render(diags: &Diagnostics, sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diags.iter().take(MAX_RENDERED) {
        let report = Report::new(d, sources);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    let rest = &diags.0[diags.0.len().min(MAX_RENDERED)..];
    if !rest.is_empty() {
        let errors = rest.iter().filter(|d| d.is_error()).count();
        let warnings = rest.len() - errors;
        let mut parts = Vec::new();
        if errors > 0 {
            parts.push(format!(
                "{} more {}",
                thousands(errors),
                if errors == 1 { "error" } else { "errors" }
            ));
        }
        if warnings > 0 {
            parts.push(format!(
                "{} more {}",
                thousands(warnings),
                if warnings == 1 { "warning" } else { "warnings" }
            ));
        }
        out.push_str(&format!(
            "… and {} (fix the first ones, or use `--message-format json` to see all)\n",
            parts.join(" and ")
        ));
    }
    out
}

/// `199980` as `199,980`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One JSON object per line: code, severity, message, help, notes and labels with file, byte range, line, column.
pub fn render_json(diags: &Diagnostics, sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags.iter() {
        let labels: Vec<serde_json::Value> = d
            .labels
            .iter()
            .map(|l| {
                let (line, column) = sources.line_col(l.span);
                serde_json::json!({
                    "file": sources.get(l.span.file).map(|f| f.name.as_str()).unwrap_or("?"),
                    "start": l.span.start, "end": l.span.end, "line": line, "column": column,
                    "message": l.message,
                })
            })
            .collect();
        let v = serde_json::json!({
            "code": d.code, "severity": d.severity, "message": d.message,
            "help": d.help, "notes": d.notes, "labels": labels,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// The closest candidate within a distance that scales with the name's length, for "did you mean `x`?".
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}
