//! `fusec fmt`: a .fuse file read like any source (guarded, line endings normalized) and laid out by
//! `syntax::format`; `--check` turns a difference into a diagnostic at the first line that would change.

use std::path::Path;

use super::Error;
use crate::api::FsLoader;
use crate::diag::Diagnostic;
use crate::source::{Loader, SourceMap, Span};

/// A file and its canonical layout.
pub struct Formatted {
    pub original: String,
    pub formatted: String,
    /// The file, for diagnostics that point into it.
    pub sources: SourceMap,
}

impl Formatted {
    pub fn changed(&self) -> bool {
        self.original != self.formatted
    }

    /// `fusec::fmt::unformatted` at the first line the layout changes, or `None` when the file is formatted.
    pub fn check(&self, shown: &str) -> Option<Diagnostic> {
        if !self.changed() {
            return None;
        }
        let (file, _) = self.sources.files().next()?;
        let at = first_difference(&self.original, &self.formatted);
        let line_end = self.original[at..]
            .find('\n')
            .map_or(self.original.len(), |n| at + n);
        let want = self.formatted[line_start(&self.formatted, at)..]
            .lines()
            .next()
            .unwrap_or("")
            .trim();
        let label = if want.is_empty() {
            "the canonical layout differs from here".to_string()
        } else {
            format!("the canonical layout differs from here: `{want}`")
        };
        Some(
            Diagnostic::error(
                "fusec::fmt::unformatted",
                format!("{shown} is not formatted"),
            )
            .label(Span::new(file, at, line_end.max(at)), label)
            .help(format!(
                "run `fusec fmt {shown}` to rewrite it in the canonical layout"
            )),
        )
    }
}

/// Reads and formats one file; a file that cannot be read or does not parse is the usual diagnostic.
pub fn format_file(path: &Path) -> Result<Formatted, Error> {
    let shown = path.display().to_string();
    let text = FsLoader
        .load_root(&shown)
        .map_err(|e| Error::user(e.to_diagnostic()))?;
    let original = crate::source::normalize_line_endings(text);
    let mut sources = SourceMap::default();
    let file = sources.add(shown, original.clone(), false);
    match crate::syntax::format::format(file, &original) {
        Ok(formatted) => Ok(Formatted {
            original,
            formatted,
            sources,
        }),
        Err(diagnostics) => Err(Error::User {
            diagnostics,
            sources,
        }),
    }
}

/// The start of the first line where `a` and `b` differ (a byte offset valid in `a`).
fn first_difference(a: &str, b: &str) -> usize {
    let same = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    line_start(a, same)
}

fn line_start(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].rfind('\n').map_or(0, |n| n + 1)
}
