//! A small document algebra and its printer (Wadler's "prettier printer", as Prettier implements it): a group is
//! printed on one line when it fits the remaining width, otherwise each of its line breaks becomes a newline.
//! Written here because comments need two things the `pretty` crate does not have: a line suffix (a trailing
//! `// comment` printed just before the next newline) and a break that forces every enclosing group to break.

/// A document to print.
#[derive(Clone, Debug)]
pub enum Doc {
    /// Text without newlines.
    Text(String),
    /// A space when the group is flat, a newline when it breaks.
    Line,
    /// Nothing when flat, a newline when broken.
    SoftLine,
    /// Always a newline; the enclosing groups break.
    HardLine,
    /// An empty line, unless the output is at its start or already after an empty line.
    BlankLine,
    /// Text printed only when the enclosing group breaks (a trailing comma).
    IfBreak(&'static str),
    /// Text kept for the end of the current line (a trailing comment); the enclosing groups break.
    LineSuffix(String),
    /// A comment on a line of its own: starts a new line unless at one, and whatever follows starts another.
    OwnLineComment(String),
    /// The inner document indented one more level after each newline.
    Nest(Box<Doc>),
    /// Flat if it fits, broken otherwise.
    Group(Box<Doc>),
    Concat(Vec<Doc>),
}

/// Indentation per level.
pub const INDENT: usize = 2;

impl Doc {
    pub fn text(s: impl Into<String>) -> Doc {
        Doc::Text(s.into())
    }

    pub fn nest(d: Doc) -> Doc {
        Doc::Nest(Box::new(d))
    }

    pub fn group(d: Doc) -> Doc {
        Doc::Group(Box::new(d))
    }

    /// Whether printing this document forces a break (it holds a hard line or a comment).
    fn forces_break(&self) -> bool {
        match self {
            Doc::HardLine | Doc::LineSuffix(_) | Doc::OwnLineComment(_) | Doc::BlankLine => true,
            Doc::Nest(d) | Doc::Group(d) => d.forces_break(),
            Doc::Concat(ds) => ds.iter().any(Doc::forces_break),
            Doc::Text(_) | Doc::Line | Doc::SoftLine | Doc::IfBreak(_) => false,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Flat,
    Break,
}

/// Prints `doc` within `width` columns (text longer than the width, such as long strings, overflows).
pub fn print(doc: &Doc, width: usize) -> String {
    let mut p = Printer {
        out: String::new(),
        col: 0,
        suffix: Vec::new(),
        width,
        pending_newline: false,
    };
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, d)) = stack.pop() {
        match d {
            Doc::Text(s) if s.is_empty() => {}
            Doc::Text(s) => {
                if p.pending_newline {
                    p.newline(indent);
                }
                p.push(s)
            }
            Doc::OwnLineComment(s) => {
                if !p.at_line_start() {
                    p.newline(indent);
                }
                p.push(s);
                p.pending_newline = true;
            }
            Doc::Line | Doc::SoftLine if mode == Mode::Flat => {
                if matches!(d, Doc::Line) {
                    p.push(" ");
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine => p.newline(indent),
            Doc::BlankLine => p.blank_line(indent),
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    p.push(s)
                }
            }
            Doc::LineSuffix(s) => p.suffix.push(s.clone()),
            Doc::Nest(inner) => stack.push((indent + INDENT, mode, inner)),
            Doc::Concat(ds) => stack.extend(ds.iter().rev().map(|x| (indent, mode, x))),
            Doc::Group(inner) => {
                let flat = mode == Mode::Flat
                    || (!inner.forces_break()
                        && fits(inner, &stack, p.width.saturating_sub(p.col)));
                let m = if flat { Mode::Flat } else { Mode::Break };
                stack.push((indent, m, inner));
            }
        }
    }
    p.flush_suffix();
    let mut out = p.out;
    while out.ends_with('\n') || out.ends_with(' ') {
        out.pop();
    }
    out.push('\n');
    out
}

/// Whether `doc` printed flat, followed by the rest of the stack up to its first possible newline, takes at most
/// `room` columns.
fn fits(doc: &Doc, rest: &[(usize, Mode, &Doc)], room: usize) -> bool {
    let mut left = room as isize;
    let mut todo: Vec<(Mode, &Doc)> = vec![(Mode::Flat, doc)];
    let mut rest = rest.iter().rev();
    loop {
        let Some((mode, d)) = todo.pop().or_else(|| rest.next().map(|(_, m, d)| (*m, *d))) else {
            return true;
        };
        match d {
            Doc::Text(s) => left -= s.chars().count() as isize,
            Doc::Line if mode == Mode::Flat => left -= 1,
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine | Doc::BlankLine | Doc::OwnLineComment(_) => {
                return left >= 0
            }
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    left -= s.len() as isize
                }
            }
            Doc::LineSuffix(_) => {}
            Doc::Nest(inner) | Doc::Group(inner) => todo.push((mode, inner)),
            Doc::Concat(ds) => todo.extend(ds.iter().rev().map(|x| (mode, x))),
        }
        if left < 0 {
            return false;
        }
    }
}

struct Printer {
    out: String,
    col: usize,
    suffix: Vec<String>,
    width: usize,
    /// An own-line comment was printed: the next text starts a new line.
    pending_newline: bool,
}

impl Printer {
    fn push(&mut self, s: &str) {
        if self.at_line_start() && !s.is_empty() {
            // Indentation is written lazily so blank lines carry no trailing spaces.
            let pad = self.col;
            self.out.extend(std::iter::repeat_n(' ', pad));
        }
        self.out.push_str(s);
        self.col += s.chars().count();
    }

    /// True when nothing but indentation has been written on the current line.
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn flush_suffix(&mut self) {
        for s in std::mem::take(&mut self.suffix) {
            if self.at_line_start() {
                self.push(&s);
            } else {
                self.push("  ");
                self.push(&s);
            }
        }
    }

    fn newline(&mut self, indent: usize) {
        self.flush_suffix();
        self.out.push('\n');
        self.col = indent;
        self.pending_newline = false;
    }

    fn blank_line(&mut self, indent: usize) {
        self.flush_suffix();
        if !self.at_line_start() {
            self.out.push('\n');
        }
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        self.col = indent;
        self.pending_newline = false;
    }
}
