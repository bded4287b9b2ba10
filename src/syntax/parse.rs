//! pest parse tree -> owned AST. The grammar guarantees the structure of every pair, so a pair that does not fit
//! is an internal inconsistency between grammar/fuse.pest and this file; it is reported as a diagnostic
//! (`fusec::internal::syntax`) rather than a panic.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use super::errors::from_pest;
use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/fuse.pest"]
struct FuseParser;

type P<'i> = Pair<'i, Rule>;
type R<T> = Result<T, Diagnostic>;

/// Parses one file into its AST, or the syntax error.
pub fn parse(file: FileId, text: &str) -> Result<File, Diagnostics> {
    if let Some(d) = super::limits::size_error(file, text) {
        return Err(d.into());
    }
    if let Some(d) = super::limits::nesting_error(file, text) {
        return Err(d.into());
    }
    let mut pairs = FuseParser::parse(Rule::file, text).map_err(|e| recover(file, text, e))?;
    let b = Builder { file };
    let top = pairs
        .next()
        .ok_or_else(|| Diagnostics::from(b.internal(Span::new(file, 0, 0))))?;
    let items = top
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|p| b.item(p))
        .collect::<R<Vec<_>>>()?;
    let ast = File { items };
    match super::limits::depth_error(&ast) {
        Some(d) => Err(d.into()),
        None => Ok(ast),
    }
}

/// Most syntax errors reported for one file.
const MAX_SYNTAX_ERRORS: usize = 20;

/// After a syntax error, parsing resumes at the next item that starts a line (`block`, `model`, ...), with
/// the text before it blanked so positions stay those of the file: one run reports one error per broken item.
fn recover(file: FileId, text: &str, first: pest::error::Error<Rule>) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut err = first;
    loop {
        let pos = match err.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        };
        diags.extend(from_pest(file, text, err));
        let Some(next) = next_item_start(text, pos) else {
            break;
        };
        if diags.0.len() >= MAX_SYNTAX_ERRORS {
            break;
        }
        let mut blanked = " ".repeat(next);
        blanked.push_str(&text[next..]);
        match FuseParser::parse(Rule::file, &blanked) {
            Ok(_) => break,
            Err(e) => err = e,
        }
    }
    diags
}

/// Byte offset of the first line after `pos` that starts with an item keyword.
fn next_item_start(text: &str, pos: usize) -> Option<usize> {
    let mut at = text.get(pos..)?.find('\n')? + pos + 1;
    while at < text.len() {
        let line = &text[at..];
        let starts_item = ["import", "block", "model", "data", "train"]
            .iter()
            .any(|k| {
                line.strip_prefix(k)
                    .is_some_and(|rest| rest.starts_with([' ', '{', '\t']))
            });
        if starts_item {
            return Some(at);
        }
        at += line.find('\n')? + 1;
    }
    None
}

/// Parses a lone expression (a `--set` value) in the given file.
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Diagnostics> {
    if let Some(d) = super::limits::nesting_error(file, text) {
        return Err(d.into());
    }
    let mut pairs =
        FuseParser::parse(Rule::lone_expr, text).map_err(|e| from_pest(file, text, e))?;
    let b = Builder { file };
    let top = pairs
        .next()
        .ok_or_else(|| Diagnostics::from(b.internal(Span::new(file, 0, 0))))?;
    let e = top
        .into_inner()
        .next()
        .ok_or_else(|| Diagnostics::from(b.internal(Span::new(file, 0, 0))))?;
    Ok(b.expr(e)?)
}

struct Builder {
    file: FileId,
}

impl Builder {
    /// The span of a pair without the blanks and comments pest's implicit whitespace leaves at its end.
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.start() + trimmed_len(p.as_str()))
    }

    fn internal(&self, span: Span) -> Diagnostic {
        Diagnostic::error(
            "fusec::internal::syntax",
            "the parser produced an unexpected tree",
        )
        .label(span, "here")
        .help("this is a bug in fusec; please report it with this file")
    }

    /// The next child, or an internal error at the parent.
    fn next<'i>(&self, it: &mut impl Iterator<Item = P<'i>>, parent: Span) -> R<P<'i>> {
        it.next().ok_or_else(|| self.internal(parent))
    }

    fn ident(&self, p: P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn item(&self, p: P) -> R<Item> {
        Ok(match p.as_rule() {
            Rule::import_item => Item::Import(self.import(p)?),
            Rule::block_item => Item::Block(self.block(p)?),
            Rule::model_item => {
                let span = self.span(&p);
                let mut it = p.into_inner().skip(1);
                let name = self.ident(self.next(&mut it, span)?);
                let body = self.body(self.next(&mut it, span)?)?;
                Item::Model(ModelDecl { name, body, span })
            }
            Rule::data_item => Item::Data(self.data(p)?),
            Rule::train_item => Item::Train(self.train(p)?),
            _ => return Err(self.internal(self.span(&p))),
        })
    }

    fn import(&self, p: P) -> R<Import> {
        let span = self.span(&p);
        let mut it = p.into_inner().skip(1);
        let src = self.next(&mut it, span)?;
        let source = match src.as_rule() {
            Rule::std_module => {
                let sp = self.span(&src);
                let m = self.next(&mut src.into_inner().skip(1), sp)?;
                ImportSource::Std(self.ident(m))
            }
            _ => ImportSource::Path {
                path: unquote(src.as_str()),
                span: self.span(&src),
            },
        };
        let names = self
            .next(&mut it, span)?
            .into_inner()
            .map(|n| self.import_name(n))
            .collect::<R<Vec<_>>>()?;
        Ok(Import {
            source,
            names,
            span,
        })
    }

    /// `NAME`, `data NAME` or `train NAME` in an import list.
    fn import_name(&self, p: P) -> R<ImportName> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let first = self.next(&mut it, span)?;
        let kind = match first.as_rule() {
            Rule::kw_data => Some(SectionKind::Data),
            Rule::kw_train => Some(SectionKind::Train),
            _ => {
                return Ok(ImportName {
                    kind: None,
                    name: self.ident(first),
                })
            }
        };
        let name = self.ident(self.next(&mut it, span)?);
        Ok(ImportName { kind, name })
    }

    fn block(&self, p: P) -> R<Block> {
        let span = self.span(&p);
        let mut it = p.into_inner().skip(1);
        let name = self.ident(self.next(&mut it, span)?);
        let (mut ports, mut outputs, mut body) = (Vec::new(), Vec::new(), Vec::new());
        for c in it {
            match c.as_rule() {
                Rule::port => ports.push(self.port(c)?),
                Rule::block_outputs => outputs = self.outputs(c)?,
                Rule::body => body = self.body(c)?,
                _ => return Err(self.internal(self.span(&c))),
            }
        }
        Ok(Block {
            name,
            ports,
            outputs,
            body,
            span,
        })
    }

    fn port(&self, p: P) -> R<Port> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(self.next(&mut it, span)?);
        let ty = self.next(&mut it, span)?;
        let mut kind = match ty.as_rule() {
            Rule::tensor_type => PortKind::Tensor {
                ty: self.tensor_type(ty)?,
                variadic: false,
            },
            _ => PortKind::Value(self.value_type(ty)?),
        };
        let mut default = None;
        for c in it {
            match c.as_rule() {
                Rule::variadic => {
                    if let PortKind::Tensor { variadic, .. } = &mut kind {
                        *variadic = true;
                    }
                }
                _ => default = Some(self.expr(c)?),
            }
        }
        Ok(Port {
            name,
            kind,
            default,
            span,
        })
    }

    fn outputs(&self, p: P) -> R<Vec<OutputDecl>> {
        p.into_inner()
            .map(|c| match c.as_rule() {
                Rule::tensor_type => Ok(OutputDecl {
                    name: None,
                    ty: self.tensor_type(c)?,
                }),
                _ => {
                    let span = self.span(&c);
                    let mut it = c.into_inner();
                    let name = self.ident(self.next(&mut it, span)?);
                    let ty = self.tensor_type(self.next(&mut it, span)?)?;
                    Ok(OutputDecl {
                        name: Some(name),
                        ty,
                    })
                }
            })
            .collect()
    }

    fn tensor_type(&self, p: P) -> R<TensorTypeExpr> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let dtype = self.ident(self.next(&mut it, span)?);
        let dims = it.map(|d| self.expr(d)).collect::<R<Vec<_>>>()?;
        Ok(TensorTypeExpr { dtype, dims, span })
    }

    fn value_type(&self, p: P) -> R<ValueTypeExpr> {
        let span = self.span(&p);
        let inner = self.next(&mut p.into_inner(), span)?;
        Ok(match inner.as_rule() {
            Rule::list_type => {
                let elem = self.next(&mut inner.into_inner(), span)?;
                ValueTypeExpr::List(Box::new(self.value_type(elem)?), span)
            }
            _ => ValueTypeExpr::Named(self.ident(inner)),
        })
    }

    fn body(&self, p: P) -> R<Vec<Stmt>> {
        p.into_inner().map(|s| self.stmt(s)).collect()
    }

    fn stmt(&self, p: P) -> R<Stmt> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        if matches!(
            rule,
            Rule::input_stmt | Rule::param_stmt | Rule::output_stmt | Rule::loss_stmt
        ) {
            it.next(); // the keyword
        }
        Ok(match rule {
            Rule::input_stmt => {
                let name = self.ident(self.next(&mut it, span)?);
                Stmt::Input {
                    name,
                    ty: self.tensor_type(self.next(&mut it, span)?)?,
                    span,
                }
            }
            Rule::param_stmt => {
                let name = self.ident(self.next(&mut it, span)?);
                let ty = self.value_type(self.next(&mut it, span)?)?;
                Stmt::Param {
                    name,
                    ty,
                    default: self.expr(self.next(&mut it, span)?)?,
                    span,
                }
            }
            Rule::output_stmt | Rule::loss_stmt => {
                let name = self.ident(self.next(&mut it, span)?);
                let value = self.expr(self.next(&mut it, span)?)?;
                if rule == Rule::loss_stmt {
                    Stmt::Loss { name, value, span }
                } else {
                    Stmt::Output { name, value, span }
                }
            }
            Rule::for_stmt => {
                it.next();
                let var = self.ident(self.next(&mut it, span)?);
                it.next();
                let iter = self.expr(self.next(&mut it, span)?)?;
                Stmt::For {
                    var,
                    iter,
                    body: self.body(self.next(&mut it, span)?)?,
                    span,
                }
            }
            Rule::if_stmt => self.if_stmt(it, span)?,
            Rule::return_stmt => self.return_stmt(it, span)?,
            Rule::assert_stmt => {
                it.next();
                let cond = self.expr(self.next(&mut it, span)?)?;
                let message = it.next().map(|m| self.expr(m)).transpose()?;
                Stmt::Assert {
                    cond,
                    message,
                    span,
                }
            }
            Rule::let_stmt => {
                let name = self.ident(self.next(&mut it, span)?);
                let mut c = self.next(&mut it, span)?;
                let shared = c.as_rule() == Rule::shared;
                if shared {
                    c = self.next(&mut it, span)?;
                }
                Stmt::Let {
                    name,
                    shared,
                    value: self.expr(c)?,
                    span,
                }
            }
            _ => return Err(self.internal(span)),
        })
    }

    fn if_stmt(&self, mut it: pest::iterators::Pairs<Rule>, span: Span) -> R<Stmt> {
        it.next();
        let cond = self.expr(self.next(&mut it, span)?)?;
        let then = self.body(self.next(&mut it, span)?)?;
        let mut otherwise = Vec::new();
        if it.next().is_some() {
            let e = self.next(&mut it, span)?;
            otherwise = match e.as_rule() {
                Rule::if_stmt => vec![self.stmt(e)?],
                _ => self.body(e)?,
            };
        }
        Ok(Stmt::If {
            cond,
            then,
            otherwise,
            span,
        })
    }

    fn return_stmt(&self, mut it: pest::iterators::Pairs<Rule>, span: Span) -> R<Stmt> {
        it.next();
        let v = self.next(&mut it, span)?;
        let values = match v.as_rule() {
            Rule::named_returns => v
                .into_inner()
                .map(|nr| {
                    let sp = self.span(&nr);
                    let mut ni = nr.into_inner();
                    let name = self.ident(self.next(&mut ni, sp)?);
                    Ok((Some(name), self.expr(self.next(&mut ni, sp)?)?))
                })
                .collect::<R<Vec<_>>>()?,
            _ => vec![(None, self.expr(v)?)],
        };
        Ok(Stmt::Return { values, span })
    }

    fn data(&self, p: P) -> R<DataDecl> {
        let span = self.span(&p);
        let mut it = p.into_inner().skip(1);
        let name = self.ident(self.next(&mut it, span)?);
        let (mut fields, mut settings) = (Vec::new(), Vec::new());
        for c in it {
            match c.as_rule() {
                Rule::field_entry => {
                    let sp = self.span(&c);
                    let mut fi = c.into_inner().skip(1);
                    let name = self.ident(self.next(&mut fi, sp)?);
                    let ty = self.tensor_type(self.next(&mut fi, sp)?)?;
                    let source = self.expr(self.next(&mut fi, sp)?)?;
                    fields.push(FieldDecl {
                        name,
                        ty,
                        source,
                        span: sp,
                    });
                }
                _ => settings.push(self.setting(c)?),
            }
        }
        Ok(DataDecl {
            name,
            fields,
            settings,
            span,
        })
    }

    fn setting(&self, p: P) -> R<Setting> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let key = self.ident(self.next(&mut it, span)?);
        Ok(Setting {
            key,
            value: self.expr(self.next(&mut it, span)?)?,
            span,
        })
    }

    fn train(&self, p: P) -> R<TrainDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut entries = Vec::new();
        for c in p.into_inner().skip(1) {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(c)),
                _ => entries.push(self.train_entry(c)?),
            }
        }
        Ok(TrainDecl {
            name,
            entries,
            span,
        })
    }

    fn train_entry(&self, c: P) -> R<TrainEntry> {
        let sp = self.span(&c);
        let rule = c.as_rule();
        let mut it = c.into_inner();
        Ok(match rule {
            Rule::setting => {
                let key = self.ident(self.next(&mut it, sp)?);
                TrainEntry::Setting(Setting {
                    key,
                    value: self.expr(self.next(&mut it, sp)?)?,
                    span: sp,
                })
            }
            Rule::optimizer_entry => {
                it.next();
                let name = self.ident(self.next(&mut it, sp)?);
                TrainEntry::Optimizer {
                    name,
                    value: self.expr(self.next(&mut it, sp)?)?,
                    span: sp,
                }
            }
            _ => {
                let mut name = None;
                let mut objective = None;
                let mut using = None;
                for x in it {
                    match x.as_rule() {
                        Rule::ident => name = Some(self.ident(x)),
                        Rule::expr => objective = Some(self.expr(x)?),
                        Rule::using => {
                            let usp = self.span(&x);
                            using = Some(self.ident(self.next(&mut x.into_inner().skip(1), usp)?));
                        }
                        _ => {}
                    }
                }
                let objective = objective.ok_or_else(|| self.internal(sp))?;
                TrainEntry::Step {
                    name,
                    objective,
                    using,
                    span: sp,
                }
            }
        })
    }
}

/// Length of `text` without trailing whitespace and trailing `//` comments.
fn trimmed_len(text: &str) -> usize {
    let mut t = text.trim_end();
    loop {
        let line_start = t.rfind('\n').map(|i| i + 1).unwrap_or(0);
        match comment_start(&t[line_start..]) {
            Some(c) => t = t[..line_start + c].trim_end(),
            None => return t.len(),
        }
    }
}

/// Byte offset of a `//` comment in one line, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let (mut in_str, mut escaped) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_str => escaped = true,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

mod expr;
