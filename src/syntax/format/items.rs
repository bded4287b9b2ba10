//! Items, statements and entries of the layout: imports, blocks with their signatures, models, `data { }` and
//! `train { }`, and the statement lists (bodies) with their empty lines and comments.

use super::comments::Queue;
use super::doc::Doc;
use crate::syntax::parse::{Rule, P};

/// Walks the parse tree in source order, taking each comment out of the queue before the token it preceded.
pub struct Formatter<'t> {
    pub(super) comments: Queue<'t>,
}

impl<'t> Formatter<'t> {
    pub fn new(text: &'t str) -> Formatter<'t> {
        Formatter {
            comments: Queue::new(text),
        }
    }

    /// A token as written, after the comments before it.
    pub(super) fn tok(&mut self, p: &P) -> Doc {
        let mut docs = self.comments.before(p.as_span().start(), false);
        docs.push(Doc::text(p.as_str().trim()));
        Doc::Concat(docs)
    }

    /// A keyword or punctuation the tree holds as a pair, printed as `text` after the comments before it.
    pub(super) fn word(&mut self, p: &P, text: &str) -> Doc {
        let mut docs = self.comments.before(p.as_span().start(), false);
        docs.push(Doc::text(text));
        Doc::Concat(docs)
    }

    /// The whole file: items separated by one empty line (imports by none unless the source has one).
    pub fn file(&mut self, file: P) -> Doc {
        let end = file.as_span().end();
        let items: Vec<P> = file
            .into_inner()
            .filter(|p| p.as_rule() != Rule::EOI)
            .collect();
        let mut docs = Vec::new();
        let mut prev_import = None;
        for (i, item) in items.into_iter().enumerate() {
            let start = item.as_span().start();
            let is_import = item.as_rule() == Rule::import_item;
            // Items are apart by an empty line, before their leading comments (consecutive imports stay
            // together unless the source separates them).
            let together = prev_import == Some(true) && is_import;
            if i > 0 && !together {
                docs.push(Doc::BlankLine);
            }
            let comments = self.comments.before(start, true);
            let had_comments = !comments.is_empty();
            docs.extend(comments);
            // Between the leading comments and the item, or between two imports: a line break, or the
            // empty line the source has there.
            if had_comments || (i > 0 && together) {
                let blank = self.comments.blank_line_before(start);
                docs.push(if blank { Doc::BlankLine } else { Doc::HardLine });
            }
            docs.push(self.item(item));
            prev_import = Some(is_import);
        }
        docs.extend(self.comments.before(end + 1, true));
        Doc::Concat(docs)
    }

    fn item(&mut self, p: P) -> Doc {
        match p.as_rule() {
            Rule::import_item => self.import(p),
            Rule::block_item => self.block(p),
            Rule::model_item => {
                let mut it = p.into_inner();
                let mut docs = Vec::new();
                for c in it.by_ref() {
                    match c.as_rule() {
                        Rule::kw_model => docs.push(self.word(&c, "model ")),
                        Rule::ident => docs.push(self.tok(&c)),
                        _ => {
                            docs.push(Doc::text(" "));
                            docs.push(self.body(c));
                        }
                    }
                }
                Doc::Concat(docs)
            }
            Rule::data_item | Rule::train_item => self.section(p),
            _ => self.tok(&p),
        }
    }

    fn import(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_import => docs.push(self.word(&c, "import ")),
                Rule::std_module => {
                    for m in c.into_inner() {
                        match m.as_rule() {
                            Rule::kw_std => docs.push(self.word(&m, "std")),
                            _ => {
                                docs.push(Doc::text("."));
                                docs.push(self.tok(&m));
                            }
                        }
                    }
                }
                Rule::string => docs.push(self.tok(&c)),
                _ => {
                    docs.push(Doc::text("."));
                    let end = c.as_span().end();
                    let names: Vec<P> = c.into_inner().collect();
                    if let [one] = names.as_slice() {
                        docs.push(self.import_name(one.clone()));
                    } else {
                        let elems = names
                            .into_iter()
                            .map(|n| (n.as_span().start(), n))
                            .collect();
                        docs.push(self.bracketed("{", "}", elems, end, |f, n| f.import_name(n)));
                    }
                }
            }
        }
        Doc::Concat(docs)
    }

    /// `Name`, or `data name` / `train name` (a section of one kind).
    fn import_name(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_data => docs.push(self.word(&c, "data ")),
                Rule::kw_train => docs.push(self.word(&c, "train ")),
                _ => docs.push(self.tok(&c)),
            }
        }
        Doc::Concat(docs)
    }

    fn block(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        let mut ports = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_block => docs.push(self.word(&c, "block ")),
                Rule::ident => docs.push(self.tok(&c)),
                Rule::port => ports.push((c.as_span().start(), c)),
                Rule::block_outputs => {
                    let close = c.as_span().start();
                    docs.push(self.ports(std::mem::take(&mut ports), close));
                    docs.push(Doc::text(" -> "));
                    docs.push(self.outputs(c));
                }
                _ => {
                    if docs.len() == 2 {
                        let close = c.as_span().start();
                        docs.push(self.ports(std::mem::take(&mut ports), close));
                    }
                    docs.push(Doc::text(" "));
                    docs.push(self.body(c));
                }
            }
        }
        Doc::Concat(docs)
    }

    fn ports(&mut self, ports: Vec<(usize, P)>, end: usize) -> Doc {
        self.bracketed("(", ")", ports, end, |f, c| f.port(c))
    }

    fn port(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        for (i, c) in p.into_inner().enumerate() {
            match c.as_rule() {
                Rule::ident if i == 0 => {
                    docs.push(self.tok(&c));
                    docs.push(Doc::text(": "));
                }
                Rule::tensor_type => docs.push(self.tensor_type(c)),
                Rule::value_type => docs.push(self.value_type(c)),
                Rule::variadic => docs.push(self.word(&c, "...")),
                _ => {
                    docs.push(Doc::text(" = "));
                    docs.push(self.expr(c));
                }
            }
        }
        Doc::Concat(docs)
    }

    fn outputs(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let children: Vec<P> = p.into_inner().collect();
        if let [single] = children.as_slice() {
            if single.as_rule() == Rule::tensor_type {
                return self.tensor_type(single.clone());
            }
        }
        let elems = children
            .into_iter()
            .map(|c| (c.as_span().start(), c))
            .collect();
        self.bracketed("(", ")", elems, end, |f, c| {
            let mut it = c.into_inner();
            let mut docs = Vec::new();
            if let Some(name) = it.next() {
                docs.push(f.tok(&name));
                docs.push(Doc::text(": "));
            }
            if let Some(ty) = it.next() {
                docs.push(f.tensor_type(ty));
            }
            Doc::Concat(docs)
        })
    }

    pub(super) fn tensor_type(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let mut it = p.into_inner();
        let mut docs = Vec::new();
        if let Some(dtype) = it.next() {
            docs.push(self.tok(&dtype));
        }
        let dims = it.map(|d| (d.as_span().start(), d)).collect();
        docs.push(self.bracketed("[", "]", dims, end, |f, d| f.expr(d)));
        Doc::Concat(docs)
    }

    pub(super) fn value_type(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::list_type => {
                    docs.push(Doc::text("["));
                    for inner in c.into_inner() {
                        docs.push(self.value_type(inner));
                    }
                    docs.push(Doc::text("]"));
                }
                _ => docs.push(self.tok(&c)),
            }
        }
        Doc::Concat(docs)
    }

    /// `{ statements }` of a block, model, loop or branch.
    pub(super) fn body(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let stmts: Vec<P> = p.into_inner().collect();
        self.lines(stmts, end - 1, |f, s| f.stmt(s))
    }

    /// `data NAME { entries }` and `train [NAME] { entries }`.
    fn section(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let mut docs = Vec::new();
        let mut entries = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_data => docs.push(self.word(&c, "data")),
                Rule::kw_train => docs.push(self.word(&c, "train")),
                // The section's name (always there for `data`, optional for `train`).
                Rule::ident if entries.is_empty() && docs.len() == 1 => {
                    docs.push(Doc::text(" "));
                    docs.push(self.tok(&c));
                }
                _ => entries.push(c),
            }
        }
        docs.push(Doc::text(" "));
        docs.push(self.lines(entries, end - 1, |f, e| f.entry(e)));
        Doc::Concat(docs)
    }

    /// `{`, one line per element (an empty line kept where the source has one), `}`; `close` is the position
    /// of the `}`.
    fn lines(
        &mut self,
        elems: Vec<P>,
        close: usize,
        mut each: impl FnMut(&mut Self, P) -> Doc,
    ) -> Doc {
        let mut inner = Vec::new();
        for (i, e) in elems.into_iter().enumerate() {
            let start = e.as_span().start();
            let comments = self.comments.before(start, i > 0);
            let had_comments = !comments.is_empty();
            inner.extend(comments);
            let blank = (i > 0 || had_comments) && self.comments.blank_line_before(start);
            inner.push(if blank { Doc::BlankLine } else { Doc::HardLine });
            inner.push(each(self, e));
        }
        let trailing = self.comments.before(close, true);
        if inner.is_empty() && trailing.is_empty() {
            return Doc::text("{}");
        }
        inner.extend(trailing);
        Doc::Concat(vec![
            Doc::text("{"),
            Doc::nest(Doc::Concat(inner)),
            Doc::HardLine,
            Doc::text("}"),
        ])
    }

    /// A `data` or `train` entry.
    fn entry(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        let rule = p.as_rule();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_field => docs.push(self.word(&c, "field ")),
                Rule::kw_optimizer => docs.push(self.word(&c, "optimizer ")),
                Rule::kw_step => docs.push(self.word(&c, "step ")),
                Rule::kw_minimize if rule == Rule::minimize_entry => {
                    docs.push(self.word(&c, "minimize "))
                }
                Rule::kw_minimize => docs.push(self.word(&c, " minimize ")),
                Rule::ident if rule == Rule::field_entry => {
                    docs.push(self.tok(&c));
                    docs.push(Doc::text(": "));
                }
                Rule::ident if rule == Rule::step_entry => docs.push(self.tok(&c)),
                Rule::ident => {
                    docs.push(self.tok(&c));
                    docs.push(Doc::text(" = "));
                }
                Rule::tensor_type => {
                    docs.push(self.tensor_type(c));
                    docs.push(Doc::text(" = "));
                }
                Rule::using => {
                    for u in c.into_inner() {
                        match u.as_rule() {
                            Rule::kw_using => docs.push(self.word(&u, " using ")),
                            _ => docs.push(self.tok(&u)),
                        }
                    }
                }
                _ => docs.push(self.expr(c)),
            }
        }
        Doc::Concat(docs)
    }

    /// Elements between brackets: flat as `(a, b)` when they fit, else one per line with a trailing comma.
    /// `end` is the end of the construct, so comments before the closing bracket stay inside it.
    pub(super) fn bracketed<T>(
        &mut self,
        open: &str,
        close: &str,
        elems: Vec<(usize, T)>,
        end: usize,
        mut each: impl FnMut(&mut Self, T) -> Doc,
    ) -> Doc {
        let n = elems.len();
        let mut inner = vec![Doc::SoftLine];
        let starts: Vec<usize> = elems.iter().map(|(s, _)| *s).collect();
        for (i, (_, e)) in elems.into_iter().enumerate() {
            inner.push(each(self, e));
            if i + 1 < n {
                inner.push(Doc::text(","));
                inner.extend(self.comments.before(starts[i + 1], false));
                inner.push(Doc::Line);
            }
        }
        if n > 0 {
            inner.push(Doc::IfBreak(","));
        }
        inner.extend(self.comments.before(end, false));
        Doc::group(Doc::Concat(vec![
            Doc::text(open),
            Doc::nest(Doc::Concat(inner)),
            Doc::SoftLine,
            Doc::text(close),
        ]))
    }
}
