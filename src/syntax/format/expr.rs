//! Statements and expressions of the layout. Every precedence level of the grammar is a pair even when it holds
//! one operand; such levels are looked through. Operator chains and pipes are groups that break before each
//! operator; calls and lists go through `Formatter::bracketed`.

use super::doc::Doc;
use super::items::Formatter;
use crate::syntax::parse::{Rule, P};

impl Formatter<'_> {
    pub(super) fn stmt(&mut self, p: P) -> Doc {
        let rule = p.as_rule();
        let mut docs = Vec::new();
        for c in p.into_inner() {
            let d = match c.as_rule() {
                Rule::kw_input => self.word(&c, "input "),
                Rule::kw_param => self.word(&c, "param "),
                Rule::kw_output => self.word(&c, "output "),
                Rule::kw_loss => self.word(&c, "loss "),
                Rule::kw_for => self.word(&c, "for "),
                Rule::kw_in => self.word(&c, " in "),
                Rule::kw_if => self.word(&c, "if "),
                Rule::kw_else => self.word(&c, " else"),
                Rule::kw_return => self.word(&c, "return "),
                Rule::kw_assert => self.word(&c, "assert "),
                Rule::shared => self.word(&c, "shared "),
                Rule::ident => {
                    let name = self.tok(&c);
                    let after = match rule {
                        Rule::input_stmt | Rule::param_stmt => ": ",
                        Rule::for_stmt => "",
                        _ => " = ",
                    };
                    Doc::Concat(vec![name, Doc::text(after)])
                }
                Rule::tensor_type => self.tensor_type(c),
                Rule::value_type => {
                    let ty = self.value_type(c);
                    Doc::Concat(vec![ty, Doc::text(" = ")])
                }
                Rule::body => Doc::Concat(vec![Doc::text(" "), self.body(c)]),
                Rule::if_stmt => Doc::Concat(vec![Doc::text(" "), self.stmt(c)]),
                Rule::named_returns => self.named_returns(c),
                _ => {
                    let e = self.expr(c);
                    // `assert COND, "message"`: the comma sits between the two expressions.
                    if rule == Rule::assert_stmt && docs.len() == 2 {
                        Doc::Concat(vec![Doc::text(", "), e])
                    } else {
                        e
                    }
                }
            };
            docs.push(d);
        }
        Doc::Concat(docs)
    }

    fn named_returns(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let elems = p.into_inner().map(|c| (c.as_span().start(), c)).collect();
        self.bracketed("(", ")", elems, end, |f, c| {
            let mut docs = Vec::new();
            for (i, x) in c.into_inner().enumerate() {
                if i == 0 {
                    docs.push(f.tok(&x));
                    docs.push(Doc::text(" = "));
                } else {
                    docs.push(f.expr(x));
                }
            }
            Doc::Concat(docs)
        })
    }

    pub(super) fn expr(&mut self, p: P) -> Doc {
        match p.as_rule() {
            Rule::expr => {
                // `... as name` closes the expression: the chain without it, then ` as name` on the same line.
                let as_name = p
                    .clone()
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::as_name);
                let chain = self.chain(p);
                match as_name {
                    None => chain,
                    Some(a) => {
                        let mut docs = vec![chain];
                        for c in a.into_inner() {
                            match c.as_rule() {
                                Rule::kw_as => docs.push(self.word(&c, " as ")),
                                _ => docs.push(self.tok(&c)),
                            }
                        }
                        Doc::Concat(docs)
                    }
                }
            }
            Rule::or_expr | Rule::and_expr | Rule::cmp_expr | Rule::add_expr | Rule::mul_expr => {
                self.chain(p)
            }
            Rule::range_expr => self.range(p),
            Rule::not_expr | Rule::unary => self.prefix(p),
            Rule::postfix => self.postfix(p),
            Rule::paren => {
                let inner: Vec<P> = p.into_inner().collect();
                let body = inner.into_iter().map(|e| self.expr(e)).collect();
                Doc::Concat(vec![Doc::text("("), Doc::Concat(body), Doc::text(")")])
            }
            Rule::list => self.list(p),
            _ => self.tok(&p),
        }
    }

    /// `a op b op c` (or a pipe `x |> f |> g`): one operand when the level holds one, else a group that breaks
    /// before each operator, the continuation lines indented.
    fn chain(&mut self, p: P) -> Doc {
        let parts: Vec<P> = p
            .into_inner()
            .filter(|c| c.as_rule() != Rule::as_name)
            .collect();
        if parts.len() == 1 {
            let only = parts.into_iter().next().map(|e| self.expr(e));
            return only.unwrap_or(Doc::Concat(Vec::new()));
        }
        let mut it = parts.into_iter();
        let first = it
            .next()
            .map(|e| self.expr(e))
            .unwrap_or(Doc::Concat(Vec::new()));
        let mut rest = Vec::new();
        while let Some(op) = it.next() {
            rest.push(Doc::Line);
            let sym = op.as_str().trim().to_string();
            rest.push(self.word(&op, &sym));
            rest.push(Doc::text(" "));
            if let Some(operand) = it.next() {
                rest.push(self.expr(operand));
            }
        }
        Doc::group(Doc::Concat(vec![first, Doc::nest(Doc::Concat(rest))]))
    }

    /// `a..b`, without spaces.
    fn range(&mut self, p: P) -> Doc {
        let docs = p
            .into_inner()
            .map(|c| match c.as_rule() {
                Rule::range_op => self.word(&c, ".."),
                _ => self.expr(c),
            })
            .collect();
        Doc::Concat(docs)
    }

    /// `not x`, `-x` (and repeated: `not not x`, `--x`).
    fn prefix(&mut self, p: P) -> Doc {
        let docs = p
            .into_inner()
            .map(|c| match c.as_rule() {
                Rule::not_op => self.word(&c, "not "),
                Rule::neg => self.word(&c, "-"),
                _ => self.expr(c),
            })
            .collect();
        Doc::Concat(docs)
    }

    /// A primary followed by calls `(...)`, fields `.f` and indexes `[i]`.
    fn postfix(&mut self, p: P) -> Doc {
        let mut docs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::call_args => {
                    let end = c.as_span().end();
                    let args = c.into_inner().map(|a| (a.as_span().start(), a)).collect();
                    docs.push(self.bracketed("(", ")", args, end, |f, a| f.arg(a)));
                }
                Rule::field => {
                    docs.push(Doc::text("."));
                    for name in c.into_inner() {
                        docs.push(self.tok(&name));
                    }
                }
                Rule::index => {
                    docs.push(Doc::text("["));
                    for e in c.into_inner() {
                        docs.push(self.expr(e));
                    }
                    docs.push(Doc::text("]"));
                }
                _ => docs.push(self.expr(c)),
            }
        }
        Doc::Concat(docs)
    }

    /// `value` or `name = value`.
    fn arg(&mut self, p: P) -> Doc {
        let parts: Vec<P> = p.into_inner().collect();
        let keyword = parts.len() == 2;
        let mut docs = Vec::new();
        for (i, c) in parts.into_iter().enumerate() {
            if keyword && i == 0 {
                docs.push(self.tok(&c));
                docs.push(Doc::text(" = "));
            } else {
                docs.push(self.expr(c));
            }
        }
        Doc::Concat(docs)
    }

    /// `[a, b]` or the comprehension `[e for x in xs]`.
    fn list(&mut self, p: P) -> Doc {
        let end = p.as_span().end();
        let children: Vec<P> = p.into_inner().collect();
        if let Some(comp) = children.iter().find(|c| c.as_rule() == Rule::comprehension) {
            let mut inner = Vec::new();
            for c in comp.clone().into_inner() {
                match c.as_rule() {
                    Rule::kw_for => {
                        inner.push(Doc::Line);
                        inner.push(self.word(&c, "for "));
                    }
                    Rule::kw_in => inner.push(self.word(&c, " in ")),
                    _ => inner.push(self.expr(c)),
                }
            }
            inner.extend(self.comments.before(end, false));
            return Doc::group(Doc::Concat(vec![
                Doc::text("["),
                Doc::nest(Doc::Concat(vec![Doc::SoftLine, Doc::Concat(inner)])),
                Doc::SoftLine,
                Doc::text("]"),
            ]));
        }
        let elems = children
            .into_iter()
            .map(|c| (c.as_span().start(), c))
            .collect();
        self.bracketed("[", "]", elems, end, |f, e| f.expr(e))
    }
}
