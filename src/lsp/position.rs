//! Byte offsets of fusec's spans to LSP positions and back. LSP counts lines from 0 and characters in UTF-16
//! code units (the protocol's default encoding), so a line with `é` or an emoji has fewer characters in Rust's
//! `char`s than the client counts. Out-of-range positions from a client are clamped or refused, never trusted.

use lsp_types::{Position, Range};

use crate::source::Span;

/// Where each line of one text starts, for converting in both directions.
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first character of each line.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The position of a byte offset; offsets past the end (or inside a character) are moved back to the
    /// nearest character boundary.
    pub fn position(&self, offset: usize) -> Position {
        let mut at = offset.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let line = self.line_starts.partition_point(|s| *s <= at).max(1) - 1;
        let start = self.line_starts[line];
        let character: usize = self.text[start..at].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(
            self.position(span.start as usize),
            self.position(span.end as usize),
        )
    }

    /// The byte offset of a position, or `None` for a line past the end. A character past the line's end means
    /// the line's end (as the protocol says); one inside a surrogate pair means the character it splits.
    pub fn offset(&self, pos: Position) -> Option<usize> {
        let start = *self.line_starts.get(pos.line as usize)?;
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |next| next - 1);
        let line = self.text[start..end].trim_end_matches('\r');
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            units += c.len_utf16();
            if units > pos.character as usize {
                return Some(start + i);
            }
        }
        Some(start + line.len())
    }
}

#[cfg(test)]
#[path = "tests/position.rs"]
mod tests;
