//! The compile-time evaluator: expressions of a block or model body become values, and tensor arithmetic
//! becomes graph nodes. Errors are reported where they happen and the result is `Err(())`; a `Val::Poison`
//! stands in for values whose error is already reported, so one mistake gives one diagnostic.

use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{BinaryOp, DimExpr, Op, Value};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind, Ident, UnOp};

use super::cx::Cx;
use super::overrides::{float_op, int_op};
use super::value::{dim_arith, dim_val, Val};

/// Diagnostics after which "did you mean" suggestions are no longer searched for.
const SUGGESTION_ERRORS: usize = 200;

/// Longest list a range or comprehension may build.
const MAX_LIST: i64 = 100_000;

pub type Ev = Result<Val, ()>;

impl Cx<'_> {
    /// Evaluates an expression. `hint` names the outermost node or instance it creates (`enc1 = linear(...)`).
    /// Every evaluation is charged to the program's work budget, with the size of the value it produces.
    pub fn eval(&mut self, e: &Expr, hint: Option<&str>) -> Ev {
        self.charge(1, e.span)?;
        let v = self.eval_unbudgeted(e, hint)?;
        self.charge_value(&v, e.span)?;
        Ok(v)
    }

    fn eval_unbudgeted(&mut self, e: &Expr, hint: Option<&str>) -> Ev {
        match &e.kind {
            ExprKind::Int(n) => Ok(Val::Int(*n)),
            ExprKind::Float(x) => Ok(Val::Float(*x)),
            ExprKind::Bool(b) => Ok(Val::Bool(*b)),
            ExprKind::Str(s) => Ok(Val::Str(s.clone())),
            ExprKind::Name(n) => self.eval_name(n, e.span),
            ExprKind::List(items) => {
                let vals = items
                    .iter()
                    .map(|i| self.eval(i, None))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Val::List(vals))
            }
            ExprKind::Comprehension { elem, var, iter } => {
                self.comprehension(elem, var, iter, hint)
            }
            ExprKind::Range(a, b) => self.range(a, b, e.span),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span, hint),
            ExprKind::Field(base, f) => self.field(base, f),
            ExprKind::Index(base, i) => self.index(base, i),
            ExprKind::Binary(op, a, b) => {
                let x = self.eval(a, None)?;
                let y = self.eval(b, None)?;
                self.binary(*op, x, y, e.span, hint)
            }
            ExprKind::Unary(op, a) => {
                let x = self.eval(a, None)?;
                self.unary(*op, x, e.span, hint)
            }
            ExprKind::As(inner, name) => self.eval_as(inner, name),
        }
    }

    /// `expr as name`: evaluates `expr` with `name` as the name of the node or instance it makes (in place of
    /// the name it is bound to), and refuses an expression that makes none, where `as` would name nothing.
    fn eval_as(&mut self, inner: &Expr, name: &Ident) -> Ev {
        let before = self.hinted_names;
        let v = self.eval(inner, Some(&name.name))?;
        if self.hinted_names > before {
            return Ok(v);
        }
        let d = Diagnostic::error(
            "fusec::name::as_nothing",
            format!("`as {}` names nothing: this expression makes no node", name.name),
        )
        .label(inner.span, "makes no node or block instance")
        .label(name.span, "this name is not used")
        .help(format!(
            "`as` names what a call makes: `linear(x, 8) as {0}`; to give a value another name, bind it: `{0} = ...`",
            name.name
        ));
        self.fail(d)
    }

    fn eval_name(&mut self, n: &str, span: Span) -> Ev {
        if let Some(v) = self.lookup(n) {
            return match v {
                Val::Poison => Err(()),
                v => Ok(v),
            };
        }
        if self.frame().symbols.contains(n) {
            return Ok(Val::Dim(DimExpr::Sym(n.to_string())));
        }
        if n == "none" {
            return Ok(Val::None);
        }
        let module = self.frame().module;
        if self.modules[module].scope.contains_key(n) || super::prims::is_primitive(n) {
            let d = Diagnostic::error(
                "fusec::name::not_value",
                format!("`{n}` is a block or primitive, not a value"),
            )
            .label(span, "used as a value")
            .help(format!("call it: `{n}(...)`"));
            return self.fail(d);
        }
        self.fail_once("fusec::name::unknown", span, |cx| {
            let d = Diagnostic::error("fusec::name::unknown", format!("unknown name `{n}`"))
                .label(span, "not defined");
            // Suggestions scan every visible name; past the first errors (the ones a person reads) they are
            // left out, so a file with a hundred thousand unknown names is still checked in linear time.
            let names = if cx.diags.0.len() < SUGGESTION_ERRORS {
                cx.visible_names()
            } else {
                Vec::new()
            };
            match did_you_mean(n, names.iter().map(String::as_str)) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => {
                    d.help("names are bound by `name = ...`, ports, parameters, `input` and `for`")
                }
            }
        })
    }

    fn comprehension(&mut self, elem: &Expr, var: &Ident, iter: &Expr, hint: Option<&str>) -> Ev {
        let items = match self.eval(iter, None)? {
            Val::List(items) => items,
            other => return self.fail(not_a_list(iter.span, &other)),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            self.step(iter.span)?;
            self.frame_mut().scopes.push(Default::default());
            self.frame_mut().loop_idx.push(i);
            self.bind_local(&var.name, var.span, item, false);
            let v = self.eval(elem, hint);
            self.frame_mut().loop_idx.pop();
            self.pop_scope();
            out.push(v?);
        }
        Ok(Val::List(out))
    }

    fn range(&mut self, a: &Expr, b: &Expr, span: Span) -> Ev {
        let (x, y) = (self.eval(a, None)?, self.eval(b, None)?);
        let (Val::Int(x), Val::Int(y)) = (&x, &y) else {
            let d = Diagnostic::error("fusec::value::type", "a range needs two compile-time ints")
                .label(span, format!("from {} to {}", x.kind(), y.kind()))
                .help("dims known only after checking cannot bound a loop");
            return self.fail(d);
        };
        if y.saturating_sub(*x) > MAX_LIST {
            let d = Diagnostic::error(
                "fusec::limit::list",
                format!("this range has more than {MAX_LIST} elements"),
            )
            .label(span, "too long")
            .help("ranges unroll at compile time");
            return self.fail(d);
        }
        Ok(Val::List((*x..*y).map(Val::Int).collect()))
    }

    fn field(&mut self, base: &Expr, f: &Ident) -> Ev {
        match self.eval(base, None)? {
            Val::Record(fields) => {
                if let Some((_, v)) = fields.iter().find(|(n, _)| *n == f.name) {
                    return Ok(v.clone());
                }
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                let mut d = Diagnostic::error(
                    "fusec::name::field",
                    format!("no output named `{}`", f.name),
                )
                .label(f.span, "not an output of this call");
                d = match did_you_mean(&f.name, names.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("the outputs are: {}", names.join(", "))),
                };
                self.fail(d)
            }
            other => {
                let d = Diagnostic::error(
                    "fusec::name::field",
                    format!("{} has no fields", other.kind()),
                )
                .label(
                    f.span,
                    format!("`.{}` needs a call with named outputs", f.name),
                )
                .help("only calls of blocks with named outputs (and lstm/gru) have `.name` fields");
                self.fail(d)
            }
        }
    }

    fn index(&mut self, base: &Expr, i: &Expr) -> Ev {
        let b = self.eval(base, None)?;
        let ix = self.eval(i, None)?;
        let Val::List(items) = b else {
            let help = if matches!(b, Val::Tensor(_)) {
                "use `select(x, axis, index)` on tensors"
            } else {
                "only lists can be indexed"
            };
            let d = Diagnostic::error("fusec::value::type", format!("cannot index {}", b.kind()))
                .label(base.span, "not a list")
                .help(help);
            return self.fail(d);
        };
        let Val::Int(k) = ix else {
            let d = Diagnostic::error(
                "fusec::value::type",
                format!("a list index must be an int, found {}", ix.kind()),
            )
            .label(i.span, "not an int")
            .help("indices are compile-time ints");
            return self.fail(d);
        };
        let n = items.len() as i64;
        let at = if k < 0 { n + k } else { k };
        match usize::try_from(at).ok().and_then(|a| items.get(a)) {
            Some(v) => Ok(v.clone()),
            None => {
                let d = Diagnostic::error(
                    "fusec::value::index",
                    format!("index {k} is out of range for a list of {n}"),
                )
                .label(i.span, "out of range")
                .help("negative indices count from the end");
                self.fail(d)
            }
        }
    }

    /// `x op y` on compile-time values (folded) or tensors (a node).
    pub fn binary(&mut self, op: BinOp, x: Val, y: Val, span: Span, hint: Option<&str>) -> Ev {
        match (&x, &y) {
            (Val::Int(a), Val::Int(b)) if !is_cmp_or_logic(op) => match int_op(op, *a, *b) {
                Some(v) => Ok(Val::Int(v)),
                None => self.fail(arith_error(span, op)),
            },
            (Val::Tensor(_), _) | (_, Val::Tensor(_)) if !is_cmp_or_logic(op) => {
                self.tensor_binary(op, x, y, span, hint)
            }
            (Val::List(a), Val::List(b)) if op == BinOp::Add => {
                Ok(Val::List(a.iter().chain(b).cloned().collect()))
            }
            _ if is_cmp_or_logic(op) => self.compare(op, &x, &y, span),
            (Val::Dim(_), _) | (_, Val::Dim(_)) => self.dim_binary(op, &x, &y, span),
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(a), Some(b)) if op != BinOp::MatMul => match float_op(op, a, b) {
                    Some(v) => Ok(Val::Float(v)),
                    None => self.fail(arith_error(span, op)),
                },
                _ => self.fail(operand_error(op, &x, &y, span)),
            },
        }
    }

    fn dim_binary(&mut self, op: BinOp, x: &Val, y: &Val, span: Span) -> Ev {
        let sym = match op {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
            _ => return self.fail(operand_error(op, x, y, span)),
        };
        match (x.as_dim(), y.as_dim()) {
            (Some(a), Some(b)) => match dim_arith(sym, a, b) {
                Some(d) => Ok(dim_val(d)),
                None => self.fail(arith_error(span, op)),
            },
            _ => self.fail(operand_error(op, x, y, span)),
        }
    }

    fn compare(&mut self, op: BinOp, x: &Val, y: &Val, span: Span) -> Ev {
        if matches!(op, BinOp::Eq | BinOp::Ne) && (matches!(x, Val::None) || matches!(y, Val::None))
        {
            let same = matches!(x, Val::None) && matches!(y, Val::None);
            return Ok(Val::Bool(same == (op == BinOp::Eq)));
        }
        let ord = match (x, y) {
            (Val::Bool(a), Val::Bool(b)) if matches!(op, BinOp::And | BinOp::Or) => {
                return Ok(Val::Bool(if op == BinOp::And {
                    *a && *b
                } else {
                    *a || *b
                }));
            }
            (Val::Str(a), Val::Str(b)) => a.partial_cmp(b),
            (Val::Bool(a), Val::Bool(b)) => a.partial_cmp(b),
            (Val::Int(a), Val::Int(b)) => a.partial_cmp(b),
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            },
        };
        let Some(ord) = ord.filter(|_| !matches!(op, BinOp::And | BinOp::Or)) else {
            let mut d = operand_error(op, x, y, span);
            if matches!(x, Val::Dim(_)) || matches!(y, Val::Dim(_)) {
                d = d.help("dims that depend on tensor shapes are known only after checking; compare block parameters instead");
            }
            return self.fail(d);
        };
        use std::cmp::Ordering::*;
        let r = match op {
            BinOp::Eq => ord == Equal,
            BinOp::Ne => ord != Equal,
            BinOp::Lt => ord == Less,
            BinOp::Le => ord != Greater,
            BinOp::Gt => ord == Greater,
            _ => ord != Less,
        };
        Ok(Val::Bool(r))
    }

    fn tensor_binary(&mut self, op: BinOp, x: Val, y: Val, span: Span, hint: Option<&str>) -> Ev {
        let a = self.tensor_operand(x, span)?;
        let b = self.tensor_operand(y, span)?;
        let ir_op = match op {
            BinOp::Add => Op::Binary(BinaryOp::Add),
            BinOp::Sub => Op::Binary(BinaryOp::Sub),
            BinOp::Mul => Op::Binary(BinaryOp::Mul),
            BinOp::Div => Op::Binary(BinaryOp::Div),
            BinOp::MatMul => Op::MatMul(crate::ir::MatMul),
            _ => {
                let d = Diagnostic::error(
                    "fusec::value::type",
                    format!("`{}` is not defined on tensors", op.symbol()),
                )
                .label(span, "tensor operand")
                .help("tensors support + - * / and @");
                return self.fail(d);
            }
        };
        Ok(Val::Tensor(self.emit(ir_op, &[a, b], span, hint, None)?))
    }

    /// A tensor, or a number turned into a scalar constant node.
    fn tensor_operand(&mut self, v: Val, span: Span) -> Result<Value, ()> {
        match v {
            Val::Tensor(t) => Ok(t),
            Val::Int(_) | Val::Float(_) => {
                let value = v.as_f64().unwrap_or(0.0);
                self.emit(
                    Op::Scalar(crate::ir::Scalar { value }),
                    &[],
                    span,
                    None,
                    None,
                )
            }
            other => {
                let d = Diagnostic::error(
                    "fusec::value::type",
                    format!("cannot combine a tensor with {}", other.kind()),
                )
                .label(span, "here")
                .help("tensor arithmetic takes tensors and numbers");
                self.fail(d)
            }
        }
    }

    fn unary(&mut self, op: UnOp, x: Val, span: Span, hint: Option<&str>) -> Ev {
        match (op, x) {
            (UnOp::Neg, Val::Int(n)) => Ok(Val::Int(n.saturating_neg())),
            (UnOp::Neg, Val::Float(f)) => Ok(Val::Float(-f)),
            (UnOp::Neg, Val::Dim(d)) => Ok(dim_val(DimExpr::Sub(
                Box::new(DimExpr::Const(0)),
                Box::new(d),
            ))),
            (UnOp::Neg, t @ Val::Tensor(_)) => {
                self.binary(BinOp::Mul, Val::Float(-1.0), t, span, hint)
            }
            (UnOp::Not, Val::Bool(b)) => Ok(Val::Bool(!b)),
            (op, other) => {
                let what = if op == UnOp::Neg { "`-`" } else { "`not`" };
                let d = Diagnostic::error(
                    "fusec::value::type",
                    format!("{what} is not defined on {}", other.kind()),
                )
                .label(span, "here")
                .help(if op == UnOp::Neg {
                    "negate numbers, dims or tensors"
                } else {
                    "`not` takes a bool"
                });
                self.fail(d)
            }
        }
    }
}

fn is_cmp_or_logic(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::And
            | BinOp::Or
    )
}

fn arith_error(span: Span, op: BinOp) -> Diagnostic {
    Diagnostic::error(
        "fusec::value::arith",
        format!("`{}` overflows or divides by zero", op.symbol()),
    )
    .label(span, "cannot be computed")
    .help("compile-time arithmetic uses 64-bit integers; check the divisor")
}

fn operand_error(op: BinOp, x: &Val, y: &Val, span: Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::value::type",
        format!(
            "`{}` cannot combine {} and {}",
            op.symbol(),
            x.kind(),
            y.kind()
        ),
    )
    .label(span, "here")
    .help(
        "arithmetic works on numbers, dims and tensors; comparisons on numbers, strings and bools",
    )
}

pub fn not_a_list(span: Span, v: &Val) -> Diagnostic {
    Diagnostic::error(
        "fusec::value::type",
        format!("expected a list, found {}", v.kind()),
    )
    .label(span, "not a list")
    .help("loops and comprehensions iterate over lists and ranges (`0..n`)")
}
