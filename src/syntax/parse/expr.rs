//! Expression part of the pest -> AST conversion: precedence levels folded left to right, pipes desugared into
//! calls (`x |> f(a)` is `f(x, a)`).

use pest::iterators::Pair;

use super::{unquote, Builder, Rule, P, R};
use crate::syntax::ast::*;

impl Builder {
    pub(super) fn expr(&self, p: P) -> R<Expr> {
        match p.as_rule() {
            Rule::expr => self.pipe(p),
            Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::mul_expr => {
                self.binary_chain(p)
            }
            Rule::not_expr | Rule::unary => self.prefix(p),
            Rule::cmp_expr | Rule::range_expr => self.binary_chain(p),
            Rule::postfix => self.postfix(p),
            _ => self.primary(p),
        }
    }

    fn pipe(&self, p: P) -> R<Expr> {
        self.chain_guard(&p)?;
        let mut it = p.into_inner();
        let first = it.next().ok_or_else(|| self.internal(Default::default()))?;
        let mut acc = self.expr(first)?;
        while let Some(op) = it.next() {
            if op.as_rule() == Rule::as_name {
                let sp = self.span(&op);
                let name = self.ident(self.next(&mut op.into_inner().skip(1), sp)?);
                let span = acc.span.to(name.span);
                acc = Expr {
                    kind: ExprKind::As(Box::new(acc), name),
                    span,
                };
                continue;
            }
            let rhs = self.next(&mut it, self.span(&op))?;
            let rhs = self.postfix(rhs)?;
            let span = acc.span.to(rhs.span);
            acc = match rhs.kind {
                ExprKind::Call { callee, mut args } => {
                    args.insert(
                        0,
                        Arg {
                            name: None,
                            value: acc,
                        },
                    );
                    Expr {
                        kind: ExprKind::Call { callee, args },
                        span,
                    }
                }
                _ => {
                    let args = vec![Arg {
                        name: None,
                        value: acc,
                    }];
                    Expr {
                        kind: ExprKind::Call {
                            callee: Box::new(rhs),
                            args,
                        },
                        span,
                    }
                }
            };
        }
        Ok(acc)
    }

    /// `a op b op c` folded to the left.
    fn binary_chain(&self, p: P) -> R<Expr> {
        self.chain_guard(&p)?;
        let mut it = p.into_inner();
        let first = it.next().ok_or_else(|| self.internal(Default::default()))?;
        let mut acc = self.expr(first)?;
        while let Some(op) = it.next() {
            let rhs = self.expr(self.next(&mut it, self.span(&op))?)?;
            let span = acc.span.to(rhs.span);
            let kind = match op.as_str().trim() {
                ".." => ExprKind::Range(Box::new(acc), Box::new(rhs)),
                sym => ExprKind::Binary(binop(sym), Box::new(acc), Box::new(rhs)),
            };
            acc = Expr { kind, span };
        }
        Ok(acc)
    }

    fn prefix(&self, p: P) -> R<Expr> {
        self.chain_guard(&p)?;
        let span = self.span(&p);
        let parts: Vec<Pair<Rule>> = p.into_inner().collect();
        let (ops, last) = parts.split_at(parts.len().saturating_sub(1));
        let operand = last.first().cloned().ok_or_else(|| self.internal(span))?;
        let mut acc = self.expr(operand)?;
        for op in ops.iter().rev() {
            let un = if op.as_rule() == Rule::neg {
                UnOp::Neg
            } else {
                UnOp::Not
            };
            let sp = self.span(op).to(acc.span);
            acc = Expr {
                kind: ExprKind::Unary(un, Box::new(acc)),
                span: sp,
            };
        }
        Ok(acc)
    }

    fn postfix(&self, p: P) -> R<Expr> {
        self.chain_guard(&p)?;
        let mut it = p.into_inner();
        let first = it.next().ok_or_else(|| self.internal(Default::default()))?;
        let mut acc = self.primary(first)?;
        for post in it {
            let span = acc.span.to(self.span(&post));
            let kind = match post.as_rule() {
                Rule::call_args => {
                    let args = post
                        .into_inner()
                        .map(|a| self.arg(a))
                        .collect::<R<Vec<_>>>()?;
                    ExprKind::Call {
                        callee: Box::new(acc),
                        args,
                    }
                }
                Rule::field => {
                    let name = self.next(&mut post.into_inner(), span)?;
                    ExprKind::Field(Box::new(acc), self.ident(name))
                }
                _ => {
                    let ix = self.expr(self.next(&mut post.into_inner(), span)?)?;
                    ExprKind::Index(Box::new(acc), Box::new(ix))
                }
            };
            acc = Expr { kind, span };
        }
        Ok(acc)
    }

    fn arg(&self, p: P) -> R<Arg> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let first = self.next(&mut it, span)?;
        if first.as_rule() == Rule::ident {
            let value = self.expr(self.next(&mut it, span)?)?;
            return Ok(Arg {
                name: Some(self.ident(first)),
                value,
            });
        }
        Ok(Arg {
            name: None,
            value: self.expr(first)?,
        })
    }

    fn primary(&self, p: P) -> R<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::int => match p.as_str().parse::<i64>() {
                Ok(n) => ExprKind::Int(n),
                Err(_) => return Err(number_error(span)),
            },
            Rule::float => match p.as_str().parse::<f64>() {
                Ok(x) if x.is_finite() => ExprKind::Float(x),
                _ => return Err(number_error(span)),
            },
            Rule::string => ExprKind::Str(unquote(p.as_str())),
            Rule::boolean => ExprKind::Bool(p.as_str().trim() == "true"),
            Rule::ident => ExprKind::Name(p.as_str().to_string()),
            Rule::paren => return self.expr(self.next(&mut p.into_inner(), span)?),
            Rule::list => return self.list(p),
            Rule::postfix => return self.postfix(p),
            _ => return self.expr(p),
        };
        Ok(Expr { kind, span })
    }

    fn list(&self, p: P) -> R<Expr> {
        let span = self.span(&p);
        let mut items = Vec::new();
        for c in p.into_inner() {
            if c.as_rule() == Rule::comprehension {
                let mut it = c.into_inner();
                let elem = self.expr(self.next(&mut it, span)?)?;
                it.next();
                let var = self.ident(self.next(&mut it, span)?);
                it.next();
                let iter = self.expr(self.next(&mut it, span)?)?;
                let kind = ExprKind::Comprehension {
                    elem: Box::new(elem),
                    var,
                    iter: Box::new(iter),
                };
                return Ok(Expr { kind, span });
            }
            items.push(self.expr(c)?);
        }
        Ok(Expr {
            kind: ExprKind::List(items),
            span,
        })
    }
}

impl Builder {
    /// Rejects operator chains longer than the expression depth limit before building them: a left-deep tree
    /// of that depth would overflow the stack when it is evaluated or dropped.
    fn chain_guard(&self, p: &P) -> R<()> {
        let n = p.clone().into_inner().count();
        if n <= 2 * crate::syntax::limits::MAX_EXPR_DEPTH {
            return Ok(());
        }
        let max = crate::syntax::limits::MAX_EXPR_DEPTH;
        Err(
            crate::diag::Diagnostic::error("fusec::limit::nesting", "this expression is too long")
                .label(self.span(p), format!("more than {max} operators in a row"))
                .help("split the expression into named steps: `a = ...`, then `b = f(a)`"),
        )
    }
}

fn binop(sym: &str) -> BinOp {
    match sym {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        "@" => BinOp::MatMul,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "and" => BinOp::And,
        _ => BinOp::Or,
    }
}

fn number_error(span: crate::source::Span) -> crate::diag::Diagnostic {
    crate::diag::Diagnostic::error(
        "fusec::syntax::number",
        "this number does not fit in 64 bits",
    )
    .label(span, "too large")
    .help("integers must lie within ±9223372036854775807 and floats must be finite")
}
