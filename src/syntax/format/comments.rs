//! The `//` comments of a source text (pest drops them as implicit whitespace), and the queue the formatter
//! takes them from: each comment is printed before the first token that follows it, as a trailing comment when
//! code precedes it on its line, on a line of its own otherwise.

use super::doc::Doc;

/// One `//` comment: its byte range and whether it is the first thing on its line.
#[derive(Clone, Debug)]
pub struct Comment {
    pub start: usize,
    pub text: String,
    pub own_line: bool,
}

/// Every comment of `text`, in order. Strings (which may hold `//`) are skipped; a string never spans lines.
pub fn scan(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut in_str, mut line_start) = (0, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' => in_str = false,
                _ => {}
            }
        } else if b == b'"' {
            in_str = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            out.push(Comment {
                start: i,
                text: text[i..end].trim_end().to_string(),
                own_line: text[line_start..i].trim().is_empty(),
            });
            i = end;
            continue;
        }
        if bytes.get(i) == Some(&b'\n') {
            line_start = i + 1;
        }
        i += 1;
    }
    out
}

/// The comments not printed yet.
pub struct Queue<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    next: usize,
}

impl<'t> Queue<'t> {
    pub fn new(text: &'t str) -> Queue<'t> {
        Queue {
            text,
            comments: scan(text),
            next: 0,
        }
    }

    /// The comments that start before `pos`, as documents. An own-line comment keeps one empty line before it
    /// when the source has one there and `blank_ok` (statement lists, not expressions).
    pub fn before(&mut self, pos: usize, blank_ok: bool) -> Vec<Doc> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next).filter(|c| c.start < pos) {
            if c.own_line {
                if blank_ok && self.blank_line_before(c.start) {
                    out.push(Doc::BlankLine);
                }
                out.push(Doc::OwnLineComment(c.text.clone()));
            } else {
                out.push(Doc::LineSuffix(c.text.clone()));
            }
            self.next += 1;
        }
        out
    }

    /// Whether the source has an empty line between the previous non-blank text and `pos`.
    pub fn blank_line_before(&self, pos: usize) -> bool {
        let before = &self.text[..pos.min(self.text.len())];
        let code_end = before.trim_end_matches([' ', '\t', '\r', '\n']).len();
        before[code_end..].matches('\n').count() >= 2
    }
}
