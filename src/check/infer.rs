//! Shape inference of one model: visits the graph in topological order and applies each op's shape rule (its
//! `Primitive::shape` in `crate::ops`, folding size attributes through [`ShapeCx`]), recording every value's type
//! in [`Shapes`]. A node whose operand failed is skipped without a
//! diagnostic, so one mistake is reported once.

use std::collections::HashMap;

use super::rules::{self as r, Rule, RuleError};
use super::unify::{Unifier, VarKey};
use super::Shapes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Dim, DimExpr, Model, NodeId, Op, TensorType, Value};
use crate::ops::ShapeCx;

/// The state of checking one model.
pub struct ModelChecker<'a> {
    pub model: &'a Model,
    pub shapes: Shapes,
    pub unifier: Unifier,
    pub diags: Diagnostics,
    /// Errors at nodes, held back until the port checks know which block instances got a wrong argument:
    /// errors inside such an instance only repeat the port error and are dropped.
    pending: Vec<(NodeId, Diagnostic)>,
}

impl<'a> ModelChecker<'a> {
    pub fn new(model: &'a Model) -> ModelChecker<'a> {
        ModelChecker {
            model,
            shapes: Shapes::empty(),
            unifier: Unifier::new(),
            diags: Diagnostics::default(),
            pending: Vec::new(),
        }
    }

    /// Infers the type of every node in topological order. Returns false on a cycle (nothing else is checked).
    pub fn infer_all(&mut self) -> bool {
        let order = match self.model.graph.topo_order() {
            Ok(order) => order,
            Err(node) => {
                let n = self.model.graph.node(node);
                let d = Diagnostic::error(
                    "fusec::graph::cycle",
                    format!("`{}` depends on its own result", n.path),
                )
                .label(n.span, "this value is part of a cycle")
                .help("a value cannot be computed from itself; break the loop with a new name");
                self.diags.push(d);
                return false;
            }
        };
        for id in order {
            self.infer_node(id);
        }
        true
    }

    fn infer_node(&mut self, id: NodeId) {
        let operands = self.model.graph.operands(id);
        let node = self.model.graph.node(id);
        let arity = node.op.prim().arity();
        if !arity.accepts(operands.len()) {
            let min = arity.min;
            let want = match arity.max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            let msg = format!(
                "`{}` takes {want} tensor operands, found {}",
                node.op.name(),
                operands.len()
            );
            self.push_at(id, RuleError::new("fusec::arity", msg));
            return;
        }
        let mut ins = Vec::with_capacity(operands.len());
        for v in &operands {
            match self.shapes.types.get(v) {
                Some(t) => ins.push(t.clone()),
                None => return,
            }
        }
        let cx = NodeCx {
            ck: self,
            id,
            scope: node.block,
        };
        match node.op.prim().shape(&cx, &ins) {
            Ok(outs) => {
                for (port, t) in outs.into_iter().enumerate() {
                    self.shapes.types.insert(Value::new(id, port as u16), t);
                }
            }
            Err(e) => self.push_at(id, e),
        }
    }

    /// A diagnostic at a node: its own span, then the innermost call site as a second label.
    pub fn push_at(&mut self, id: NodeId, e: RuleError) {
        if e.silent {
            return;
        }
        let node = self.model.graph.node(id);
        let mut d =
            Diagnostic::error(e.code, e.message).label(node.span, format!("in `{}`", node.path));
        if matches!(e.code, "fusec::shape::mismatch" | "fusec::dtype::mismatch") {
            d = self.operand_labels(id, d);
        }
        if let Some(site) = node.call_sites.first() {
            d = d.label(*site, "in the block called here");
        }
        // For nested blocks, also the outermost call: the line in the user's model that led here.
        if let (true, Some(site)) = (node.call_sites.len() > 1, node.call_sites.last()) {
            d = d.label(*site, "called from here");
        }
        let help = e.help.unwrap_or_else(|| default_help(e.code).to_string());
        self.pending.push((id, d.help(help)));
    }

    /// Labels the operands of a node that disagree, where they are defined (in the node's own file, so the
    /// labels stay on one snippet): "`a` is f32[B, 8]".
    fn operand_labels(&self, id: NodeId, mut d: Diagnostic) -> Diagnostic {
        let node = self.model.graph.node(id);
        let mut seen = Vec::new();
        for v in self.model.graph.operands(id).into_iter().take(4) {
            let def = self.model.graph.node(v.node);
            let span = def.span;
            // Overlapping underlines on one line render badly, so only definitions outside the expression get one.
            let overlaps = span.start < node.span.end && node.span.start < span.end;
            let far = span.file != node.span.file || overlaps || seen.contains(&span);
            let Some(ty) = self.shapes.types.get(&v) else {
                continue;
            };
            if far || matches!(def.op, Op::Scalar { .. }) {
                continue;
            }
            seen.push(span);
            d = d.label(span, format!("`{}` is {ty}", def.path));
        }
        d
    }

    /// Releases the held-back node errors, except those inside an instance whose arguments were already wrong.
    pub fn flush_node_errors(&mut self, bad_instances: &std::collections::HashSet<usize>) {
        for (id, d) in std::mem::take(&mut self.pending) {
            let mut k = self.model.graph.node(id).block;
            let mut inside_bad = false;
            while let Some(i) = k {
                inside_bad |= bad_instances.contains(&i);
                k = self.model.blocks.get(i).and_then(|b| b.parent);
            }
            if !inside_bad {
                self.diags.push(d);
            }
        }
    }

    /// Folds a dim expression in the scope of a node's block instance.
    pub fn eval(&self, e: &DimExpr, scope: Option<usize>) -> Rule<Dim> {
        let arith = |x: Dim, y: Dim, op: &str| -> Rule<(i64, i64)> {
            match (x.fixed(), y.fixed()) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(RuleError::new(
                    "fusec::shape::not_fixed",
                    format!(
                        "`{x} {op} {y}` involves a symbolic dim and cannot be folded to a number"
                    ),
                )
                .help("arithmetic on dims needs fixed sizes")),
            }
        };
        let overflow = || RuleError::new("fusec::shape::size", format!("`{e}` overflows"));
        Ok(match e {
            DimExpr::Const(n) => Dim::Fixed(*n),
            DimExpr::Sym(s) => self.lookup_sym(s, scope),
            DimExpr::Of { value, axis } => {
                let ty = self.shapes.types.get(value).ok_or_else(RuleError::silent)?;
                let ax = r::axis(*axis, ty.rank(), "dim")?;
                ty.dims[ax].clone()
            }
            DimExpr::Add(a, b) | DimExpr::Sub(a, b) | DimExpr::Mul(a, b) | DimExpr::Div(a, b) => {
                let (x, y) = (self.eval(a, scope)?, self.eval(b, scope)?);
                let op = match e {
                    DimExpr::Add(..) => "+",
                    DimExpr::Sub(..) => "-",
                    DimExpr::Mul(..) => "*",
                    _ => "/",
                };
                let (x, y) = arith(x, y, op)?;
                Dim::Fixed(match e {
                    DimExpr::Add(..) => x.checked_add(y).ok_or_else(overflow)?,
                    DimExpr::Sub(..) => x.checked_sub(y).ok_or_else(overflow)?,
                    DimExpr::Mul(..) => x.checked_mul(y).ok_or_else(overflow)?,
                    _ if y == 0 => {
                        return Err(RuleError::new(
                            "fusec::shape::size",
                            format!("`{e}` divides by zero"),
                        ))
                    }
                    _ => x / y,
                })
            }
            DimExpr::Infer | DimExpr::Any => {
                return Err(RuleError::new(
                    "fusec::shape::size",
                    format!("`{e}` is not allowed as a size here"),
                ))
            }
        })
    }

    /// A symbol bound by a port of an enclosing block instance, else a model-level symbol.
    fn lookup_sym(&self, s: &str, scope: Option<usize>) -> Dim {
        let mut k = scope;
        while let Some(i) = k {
            if let Some(d) = self.unifier.lookup(&VarKey {
                scope: i,
                name: s.to_string(),
            }) {
                return d;
            }
            k = self.model.blocks.get(i).and_then(|b| b.parent);
        }
        Dim::Sym(s.to_string())
    }

    fn size(&self, e: &DimExpr, scope: Option<usize>, what: &str) -> Rule<i64> {
        let d = self.eval(e, scope)?;
        r::bounded(Some(r::fixed(&d, what)?), what)
    }
}

/// The checker's view of one node for its op's shape rule: size attributes fold in the scope of the node's block
/// instance (so a port's symbol means what the caller bound it to).
struct NodeCx<'c, 'm> {
    ck: &'c ModelChecker<'m>,
    id: NodeId,
    scope: Option<usize>,
}

impl ShapeCx for NodeCx<'_, '_> {
    fn size(&self, e: &DimExpr, what: &str) -> Rule<i64> {
        self.ck.size(e, self.scope, what)
    }

    fn dim(&self, e: &DimExpr) -> Rule<Dim> {
        self.ck.eval(e, self.scope)
    }

    fn input(&self) -> Rule<TensorType> {
        let decl = self.ck.model.inputs.iter().find(|i| i.node == self.id);
        let (dtype, dims) = decl.map(|i| (i.dtype, &i.dims)).ok_or_else(|| {
            RuleError::new(
                "fusec::internal",
                "an input node that is not a declared model input",
            )
        })?;
        let name = &self.ck.model.graph.node(self.id).path;
        let mut out = Vec::with_capacity(dims.len());
        for (axis, d) in dims.iter().enumerate() {
            out.push(match d {
                // `_` in a model input: a dim of its own that nothing else can equal.
                DimExpr::Any => Dim::Sym(format!("_{name}{axis}")),
                other => match self.dim(other)? {
                    Dim::Fixed(n) if n < 0 => {
                        return Err(RuleError::new(
                            "fusec::shape::size",
                            format!("input `{name}` has a negative dim {n}"),
                        ))
                    }
                    Dim::Fixed(n) => {
                        Dim::Fixed(r::bounded(Some(n), &format!("a dim of input `{name}`"))?)
                    }
                    sym => sym,
                },
            });
        }
        Ok(r::tt(dtype, out))
    }
}

/// The help line of an error whose rule gave none: what to look at for that kind of error.
fn default_help(code: &str) -> &'static str {
    match code {
        "fusec::shape::mismatch" => {
            "the dims shown must agree; check the widths of the values that feed this op"
        }
        "fusec::shape::rank" => {
            "check how many dims the operand has (`mean`, `select`, `reshape` change it)"
        }
        "fusec::shape::index" => {
            "indices count from 0; negative ones count from the end of a fixed axis"
        }
        "fusec::shape::size" => "sizes must be positive and fit the input",
        "fusec::dtype::mismatch" => {
            "both operands need the same dtype; ids and labels are i64, features f32"
        }
        "fusec::arity" => "see docs/LANGUAGE.md for the operands each primitive takes",
        _ => "see docs/LANGUAGE.md for the rules of this primitive",
    }
}

/// The parameter table: `Op::param_specs` for every node that owns parameters. Applications of one shared
/// instance must agree on every parameter's shape.
pub fn collect_params(ck: &mut ModelChecker) {
    let mut owner_of: HashMap<String, NodeId> = HashMap::new();
    for id in ck.model.graph.node_ids().collect::<Vec<_>>() {
        let node = ck.model.graph.node(id);
        let Some(owner) = node.params.clone() else {
            continue;
        };
        let ins: Option<Vec<Vec<Dim>>> = ck
            .model
            .graph
            .operands(id)
            .iter()
            .map(|v| ck.shapes.types.get(v).map(|t| t.dims.clone()))
            .collect();
        // A node that failed (or whose operand failed) has no type and was reported already.
        let (Some(ins), true) = (ins, ck.shapes.types.contains_key(&Value::new(id, 0))) else {
            continue;
        };
        let scope = node.block;
        let op = node.op.clone();
        let specs = {
            let eval = |e: &DimExpr| fold_fixed(ck, e, scope);
            op.param_specs(&ins, &eval)
        };
        let Some(specs) = specs else { continue };
        for spec in specs {
            let full = if spec.suffix.is_empty() {
                owner.clone()
            } else {
                format!("{owner}.{}", spec.suffix)
            };
            match ck.shapes.params.get(&full).map(|p| p.shape.clone()) {
                Some(prev) if prev != spec.shape => {
                    let prev_node = owner_of.get(&owner).copied();
                    shared_conflict(ck, id, prev_node, &full, &prev, &spec.shape);
                }
                Some(_) => {}
                None => {
                    owner_of.entry(owner.clone()).or_insert(id);
                    ck.shapes.params.insert(full, spec);
                }
            }
        }
    }
}

/// A size attribute folded without reporting: the rule already reported any problem with it.
fn fold_fixed(ck: &ModelChecker, e: &DimExpr, scope: Option<usize>) -> Option<i64> {
    ck.eval(e, scope).ok().and_then(|d| d.fixed())
}

fn shared_conflict(
    ck: &mut ModelChecker,
    id: NodeId,
    prev: Option<NodeId>,
    name: &str,
    a: &[i64],
    b: &[i64],
) {
    let node = ck.model.graph.node(id);
    let mut d = Diagnostic::error(
        "fusec::shape::shared",
        format!("the shared parameter `{name}` would need shape {a:?} here and {b:?} there"),
    )
    .label(node.span, format!("this application needs {b:?}"));
    if let Some(p) = prev {
        d = d.label(
            ck.model.graph.node(p).span,
            format!("an earlier application needs {a:?}"),
        );
    }
    ck.diags.push(d.help("a shared instance owns one set of weights, so every input it is applied to must have the same width"));
}

/// The folded size attributes of every node that checked, in `Op::dims` order, as plain dim
/// expressions (numbers and model-level symbols). A reshape's target is its output type, so `-1` is resolved.
pub fn resolved_sizes(ck: &ModelChecker) -> Vec<(NodeId, Vec<DimExpr>)> {
    let to_expr = |d: Dim| match d {
        Dim::Fixed(n) => DimExpr::Const(n),
        Dim::Sym(s) => DimExpr::Sym(s),
    };
    let mut out = Vec::new();
    for id in ck.model.graph.node_ids() {
        let node = ck.model.graph.node(id);
        let Some(ty) = ck.shapes.types.get(&Value::new(id, 0)) else {
            continue;
        };
        // A reshape's target is its output type, which has the `-1` resolved.
        let dims: Option<Vec<DimExpr>> = if let Op::Reshape(_) = &node.op {
            Some(ty.dims.iter().cloned().map(to_expr).collect())
        } else {
            node.op
                .dims()
                .into_iter()
                .map(|e| ck.eval(e, node.block).ok().map(to_expr))
                .collect()
        };
        if let Some(dims) = dims {
            out.push((id, dims));
        }
    }
    out
}
