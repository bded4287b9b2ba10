//! The owned syntax tree of one .fuse file. Every node keeps the span it was parsed from, so lowering can point
//! diagnostics at the exact text. Nothing here knows about pest.

use crate::source::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Block(Block),
    Model(ModelDecl),
    Data(DataDecl),
    Train(TrainDecl),
}

/// Where an import reads from: `std.fusion` or `"relative/path.fuse"`.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportSource {
    Std(Ident),
    Path { path: String, span: Span },
}

/// `import std.MODULE.NAME`, `import std.MODULE.{A, B}`, `import "file.fuse".{A, data mfeat}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub source: ImportSource,
    pub names: Vec<ImportName>,
    pub span: Span,
}

/// Which kind of section an import name may bring: `data mfeat` only the data set, `train mfeat` only the
/// plan; a bare name brings the block, or every section, of that name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    Data,
    Train,
}

impl SectionKind {
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::Data => "data",
            SectionKind::Train => "train",
        }
    }
}

/// One imported name, with the section kind it is restricted to (`data mfeat`), if any.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportName {
    pub kind: Option<SectionKind>,
    pub name: Ident,
}

/// A tensor type as written: `f32[B, k / 2]`. Dims are expressions folded during lowering.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorTypeExpr {
    pub dtype: Ident,
    pub dims: Vec<Expr>,
    pub span: Span,
}

/// A compile-time value type: `int`, `float`, `bool`, `string`, `[int]`. The name is checked during lowering.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueTypeExpr {
    Named(Ident),
    List(Box<ValueTypeExpr>, Span),
}

impl ValueTypeExpr {
    pub fn span(&self) -> Span {
        match self {
            ValueTypeExpr::Named(i) => i.span,
            ValueTypeExpr::List(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PortKind {
    /// A tensor port, variadic when written `...` (a list of tensors).
    Tensor { ty: TensorTypeExpr, variadic: bool },
    /// A compile-time parameter.
    Value(ValueTypeExpr),
}

/// One entry of a block's parenthesised signature.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: Ident,
    pub kind: PortKind,
    pub default: Option<Expr>,
    pub span: Span,
}

/// A declared block output; `name` is `None` for the single unnamed output `-> f32[B, d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDecl {
    pub name: Option<Ident>,
    pub ty: TensorTypeExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub name: Ident,
    pub ports: Vec<Port>,
    pub outputs: Vec<OutputDecl>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelDecl {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `key = value` inside `data` or `train`.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TensorTypeExpr,
    pub source: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub settings: Vec<Setting>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainEntry {
    Setting(Setting),
    /// `optimizer NAME = adam(...)`.
    Optimizer {
        name: Ident,
        value: Expr,
        span: Span,
    },
    /// `step NAME minimize EXPR [using OPT]`; a bare `minimize EXPR` has no name (it is the step `main`).
    Step {
        name: Option<Ident>,
        objective: Expr,
        using: Option<Ident>,
        span: Span,
    },
}

/// `train [NAME] { ... }`: a named plan can be imported by other files, and extends the imported plan of
/// that name in a file that imports one.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainDecl {
    pub name: Option<Ident>,
    pub entries: Vec<TrainEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `name = [shared] expr`.
    Let {
        name: Ident,
        shared: bool,
        value: Expr,
        span: Span,
    },
    Input {
        name: Ident,
        ty: TensorTypeExpr,
        span: Span,
    },
    Param {
        name: Ident,
        ty: ValueTypeExpr,
        default: Expr,
        span: Span,
    },
    Output {
        name: Ident,
        value: Expr,
        span: Span,
    },
    Loss {
        name: Ident,
        value: Expr,
        span: Span,
    },
    For {
        var: Ident,
        iter: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
        span: Span,
    },
    /// `return expr` (name `None`) or `return (a = x, b = y)`.
    Return {
        values: Vec<(Option<Ident>, Expr)>,
        span: Span,
    },
    /// `assert COND, "message"`: a compile-time check of parameters.
    Assert {
        cond: Expr,
        message: Option<Expr>,
        span: Span,
    },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let { span, .. }
            | Stmt::Input { span, .. }
            | Stmt::Param { span, .. }
            | Stmt::Output { span, .. }
            | Stmt::Loss { span, .. }
            | Stmt::For { span, .. }
            | Stmt::If { span, .. }
            | Stmt::Return { span, .. }
            | Stmt::Assert { span, .. } => *span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    MatMul,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::MatMul => "@",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// A call argument: positional (`name` is `None`) or keyword.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Name(String),
    List(Vec<Expr>),
    /// `[elem for var in iter]`.
    Comprehension {
        elem: Box<Expr>,
        var: Ident,
        iter: Box<Expr>,
    },
    /// `a..b`, half open.
    Range(Box<Expr>, Box<Expr>),
    /// `callee(args)`; a pipe `x |> f(a)` is parsed as `f(x, a)`.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Unary(UnOp, Box<Expr>),
    /// `expr as name`: the node or block instance the expression makes is named `name` (its parameters are
    /// `name.*`), whatever name the result is bound to.
    As(Box<Expr>, Ident),
}
