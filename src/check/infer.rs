//! Shape inference of one model: visits the graph in topological order, folds size attributes, applies the op
//! rules and records every value's type in [`Shapes`]. A node whose operand failed is skipped without a
//! diagnostic, so one mistake is reported once.

use std::collections::HashMap;

use super::reshape::{reshape, Target};
use super::rules::{self as r, Rule, RuleError};
use super::rules_nn as nn;
use super::unify::{Unifier, VarKey};
use super::Shapes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{Dim, DimExpr, Dtype, Model, NodeId, Op, TensorType, Value};

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
            shapes: Shapes::default(),
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
        let (min, max) = crate::ir::verify::arity(&node.op);
        if operands.len() < min || max.is_some_and(|m| operands.len() > m) {
            let want = match max {
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
        match self.rule(id, &ins) {
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

    fn input_type(
        &mut self,
        id: NodeId,
        dtype_dims: Option<(Dtype, Vec<DimExpr>)>,
    ) -> Rule<TensorType> {
        let (dtype, dims) = dtype_dims.ok_or_else(|| {
            RuleError::new(
                "fusec::internal",
                "an input node that is not a declared model input",
            )
        })?;
        let name = self.model.graph.node(id).path.clone();
        let mut out = Vec::with_capacity(dims.len());
        for (axis, d) in dims.iter().enumerate() {
            out.push(match d {
                // `_` in a model input: a dim of its own that nothing else can equal.
                DimExpr::Any => Dim::Sym(format!("_{name}{axis}")),
                other => match self.eval(other, None)? {
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

    /// The rule of one node, given its operand types.
    fn rule(&mut self, id: NodeId, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let node = self.model.graph.node(id);
        let scope = node.block;
        let op = node.op.clone();
        let one = |t: TensorType| Ok(vec![t]);
        let x = ins.first();
        let x0 = || x.ok_or_else(RuleError::silent);
        match &op {
            Op::Input { .. } => {
                let decl = self
                    .model
                    .inputs
                    .iter()
                    .find(|i| i.node == id)
                    .map(|i| (i.dtype, i.dims.clone()));
                one(self.input_type(id, decl)?)
            }
            Op::Param { shape, .. } => {
                let mut dims = Vec::with_capacity(shape.len());
                for e in shape {
                    dims.push(Dim::Fixed(nn::positive(
                        self.size(e, scope, "a param dim")?,
                        "a param dim",
                    )?));
                }
                one(r::tt(Dtype::F32, dims))
            }
            Op::Scalar { .. } => one(r::tt(Dtype::F32, Vec::new())),
            Op::Linear { .. }
            | Op::Embedding { .. }
            | Op::Recurrent { .. }
            | Op::TransformerLayer { .. }
            | Op::Conv1d { .. }
            | Op::Conv2d { .. }
            | Op::Decoder { .. } => self.layer_rule(&op, scope, ins),
            Op::Split { sizes, axis } => {
                let mut n = Vec::with_capacity(sizes.len());
                for s in sizes {
                    n.push(self.size(s, scope, "a split size")?);
                }
                r::split(x0()?, &n, *axis)
            }
            Op::Reshape { shape } => {
                let mut target = Vec::with_capacity(shape.len());
                for e in shape {
                    target.push(match e {
                        DimExpr::Infer => Target::Infer,
                        other => Target::Dim(self.eval(other, scope)?),
                    });
                }
                one(reshape(x0()?, &target)?)
            }
            _ => simple_rule(&op, ins).map(|t| vec![t]),
        }
    }

    /// Rules of the layers whose sizes are attributes to fold first.
    fn layer_rule(
        &self,
        op: &Op,
        scope: Option<usize>,
        ins: &[TensorType],
    ) -> Rule<Vec<TensorType>> {
        let x0 = || ins.first().ok_or_else(RuleError::silent);
        match op {
            Op::Linear { out, .. } => {
                let out = self.size(out, scope, "linear: `out`")?;
                Ok(vec![nn::linear(x0()?, out)?])
            }
            Op::Embedding { vocab, dim } => {
                let (v, d) = (
                    self.size(vocab, scope, "embedding: `vocab`")?,
                    self.size(dim, scope, "embedding: `dim`")?,
                );
                Ok(vec![nn::embedding(x0()?, v, d)?])
            }
            Op::Recurrent {
                cell,
                hidden,
                bidirectional,
                merge,
                layers,
            } => {
                let h = self.size(hidden, scope, "the recurrent `hidden` size")?;
                nn::positive(i64::from(*layers), "`layers`")?;
                nn::recurrent(x0()?, ins.get(1), *cell, h, *bidirectional, *merge)
            }
            Op::Decoder { vocab, emb, .. } => {
                let v = self.size(vocab, scope, "attention_decoder: `vocab`")?;
                let e = self.size(emb, scope, "attention_decoder: `emb`")?;
                let arg = |i: usize| ins.get(i).ok_or_else(RuleError::silent);
                Ok(vec![nn::decoder(
                    [arg(0)?, arg(1)?, arg(2)?, arg(3)?],
                    v,
                    e,
                )?])
            }
            Op::TransformerLayer { heads, ff, .. } => {
                nn::positive(
                    self.size(ff, scope, "transformer_layer: `ff`")?,
                    "transformer_layer: `ff`",
                )?;
                Ok(vec![nn::attention(
                    x0()?,
                    ins.get(1),
                    *heads,
                    "transformer_layer",
                )?])
            }
            Op::Conv1d {
                out,
                kernel,
                stride,
                padding,
                ..
            } => {
                let o = self.size(out, scope, "conv1d: `out`")?;
                Ok(vec![nn::conv1d(x0()?, o, *kernel, *stride, *padding)?])
            }
            Op::Conv2d {
                out,
                kernel,
                stride,
                padding,
                ..
            } => {
                let o = self.size(out, scope, "conv2d: `out`")?;
                Ok(vec![nn::conv2d(x0()?, o, *kernel, *stride, *padding)?])
            }
            _ => Err(RuleError::silent()),
        }
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

/// Rules of the ops without size attributes.
fn simple_rule(op: &Op, ins: &[TensorType]) -> Rule<TensorType> {
    let x = ins.first().ok_or_else(RuleError::silent)?;
    let y = || ins.get(1).ok_or_else(RuleError::silent);
    match op {
        Op::Act(_) | Op::Dropout { .. } | Op::Noise { .. } | Op::StopGradient => {
            r::same_as_float(x, op.name())
        }
        Op::Softmax { axis, .. } => {
            r::axis(*axis, x.rank(), op.name())?;
            r::same_as_float(x, op.name())
        }
        Op::LayerNorm { .. } => nn::norm(x, false),
        Op::BatchNorm { .. } => nn::norm(x, true),
        Op::Concat { axis } => r::concat(ins, *axis),
        Op::Transpose { a, b } => r::transpose(x, *a, *b),
        Op::Reduce { axis, keepdim, .. } => r::reduce(x, *axis, *keepdim, op.name()),
        Op::Select { axis, index } => r::select(x, *axis, *index),
        Op::Slice { axis, start, end } => r::slice(x, *axis, *start, *end),
        Op::LastValid => nn::last_valid(x, y()?),
        Op::Pad {
            axis,
            before,
            after,
            ..
        } => r::pad(x, *axis, *before, *after),
        Op::Binary(_) => r::broadcast(x, y()?, op.name()),
        Op::MatMul => r::matmul(x, y()?),
        Op::Outer => r::outer(x, y()?),
        Op::Attention { heads, .. } => nn::attention(x, ins.get(1), *heads, "attention"),
        Op::Positions => nn::positions(x),
        Op::Loss(kind) => r::loss(*kind, x, y()?),
        _ => Err(RuleError::new(
            "fusec::internal",
            format!("no shape rule for `{}`", op.name()),
        )),
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

/// The folded size attributes of every node that checked, in `verify::dim_exprs` order, as plain dim
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
        let dims: Option<Vec<DimExpr>> = match &node.op {
            Op::Reshape { .. } => Some(ty.dims.iter().cloned().map(to_expr).collect()),
            op => crate::ir::verify::dim_exprs(op)
                .into_iter()
                .map(|e| ck.eval(e, node.block).ok().map(to_expr))
                .collect(),
        };
        if let Some(dims) = dims {
            out.push((id, dims));
        }
    }
    out
}
