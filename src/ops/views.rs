//! Ops that join, cut, reshape, reduce or pick from tensors: concat, split, reshape, transpose, mean/sum/max,
//! select, slice, last_valid, pad. None has parameters; all but the reductions count 0 FLOPs (data movement).

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{ArgReader, Def, PrimDecl, PrimParam, Returns};
use super::{ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::{axis, bug, Kernel};
use crate::check::reshape::{reshape, Target};
use crate::check::rules::{self as r, Rule};
use crate::check::rules_nn as rn;
use crate::export::{arg, attr_int, attr_ints, ExportError, Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn;
use crate::summary::flops::FlopCx;

/// `concat(xs, axis)`: n operands joined along `axis`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Concat {
    pub axis: i64,
}

pub const CONCAT: PrimDecl = PrimDecl {
    name: "concat",
    params: &[
        PrimParam::tensors("xs"),
        PrimParam::with("axis", Def::Int(-1)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        a.tensors("xs")?;
        Ok(Op::Concat(Concat {
            axis: a.int("axis")?,
        }))
    },
};

impl Primitive for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    stateless!(Arity::at_least(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("axis", Attr::Int(self.axis))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        ty(ins, 0)?;
        Ok(vec![r::concat(ins, self.axis)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x0 = k.arg(args, 0)?;
        Ok(vec![Tensor::cat(args, axis(x0.rank(), self.axis)?)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        Ok(vec![cx.op(
            "Concat",
            args,
            vec![attr_int("axis", self.axis)],
        )])
    }
}

/// `split(x, sizes, axis)`: one output port per size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Split {
    pub sizes: Vec<DimExpr>,
    pub axis: i64,
}

pub const SPLIT: PrimDecl = PrimDecl {
    name: "split",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::value("sizes"),
        PrimParam::with("axis", Def::Int(-1)),
    ],
    returns: Returns::List,
    gathers: false,
    lower: |a| {
        let sizes = a.sizes("sizes")?;
        Ok(Op::Split(Split {
            sizes,
            axis: a.int("axis")?,
        }))
    },
};

impl Primitive for Split {
    fn name(&self) -> &'static str {
        "split"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        self.sizes.len()
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("sizes", Attr::Dims(&self.sizes)),
            ("axis", Attr::Int(self.axis)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        self.sizes.iter_mut().collect()
    }

    fn owns_params(&self) -> bool {
        false
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        _: &[Vec<Dim>],
        _: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(Vec::new())
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let mut n = Vec::with_capacity(self.sizes.len());
        for s in &self.sizes {
            n.push(cx.size(s, "a split size")?);
        }
        r::split(ty(ins, 0)?, &n, self.axis)
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        let sizes = k.dims(&self.sizes, x)?;
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            out.push(x.narrow(ax, start, s)?);
            start += s;
        }
        Ok(out)
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // One Slice per part; the bounds are computed at run time when a size is symbolic.
        let x = arg(args, 0)?;
        let axes = cx.ints(&[self.axis]);
        let (mut start, mut start_fixed) = (cx.ints(&[0]), Some(0));
        let mut parts = Vec::with_capacity(self.sizes.len());
        for size in &self.sizes {
            let (end, end_fixed) = match (size, start_fixed) {
                (DimExpr::Const(n), Some(s)) => (cx.ints(&[s + n]), Some(s + n)),
                _ => {
                    let n = cx.dim_expr(size)?;
                    (cx.op("Add", &[&start, &n], vec![]), None)
                }
            };
            parts.push(cx.op("Slice", &[x, &start, &end, &axes], vec![]));
            (start, start_fixed) = (end, end_fixed);
        }
        Ok(parts)
    }
}

/// `reshape(x, shape)` or `reshape(x, d0, d1, ...)`: dims may be symbolic, one may be `-1` (inferred).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reshape {
    pub shape: Vec<DimExpr>,
}

pub const RESHAPE: PrimDecl = PrimDecl {
    name: "reshape",
    params: &[PrimParam::tensor("x"), PrimParam::value("shape")],
    returns: Returns::Tensor,
    gathers: true,
    lower: |a| {
        Ok(Op::Reshape(Reshape {
            shape: a.shape("shape")?,
        }))
    },
};

impl Primitive for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        self.shape.iter_mut().collect()
    }

    fn owns_params(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        _: &[Vec<Dim>],
        _: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(Vec::new())
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("shape", Attr::Dims(&self.shape))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let mut target = Vec::with_capacity(self.shape.len());
        for e in &self.shape {
            target.push(match e {
                DimExpr::Infer => Target::Infer,
                other => Target::Dim(cx.dim(other)?),
            });
        }
        Ok(vec![reshape(ty(ins, 0)?, &target)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let dims = k.dims(&self.shape, x)?;
        Ok(vec![x.reshape(dims)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let fixed: Option<Vec<i64>> = self
            .shape
            .iter()
            .map(|d| match d {
                DimExpr::Const(n) if *n > 0 => Some(*n),
                DimExpr::Infer => Some(-1),
                _ => None,
            })
            .collect();
        let shape = match fixed {
            Some(dims) => cx.ints(&dims),
            None => {
                let parts = self
                    .shape
                    .iter()
                    .map(|d| cx.dim_expr(d))
                    .collect::<Result<Vec<_>, _>>()?;
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                cx.op("Concat", &refs, vec![attr_int("axis", 0)])
            }
        };
        Ok(vec![cx.op("Reshape", &[arg(args, 0)?, &shape], vec![])])
    }
}

/// `transpose(x, a, b)`: swaps two axes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transpose {
    pub a: i64,
    pub b: i64,
}

pub const TRANSPOSE: PrimDecl = PrimDecl {
    name: "transpose",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::value("a"),
        PrimParam::value("b"),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Transpose(Transpose {
            a: a.int("a")?,
            b: a.int("b")?,
        }))
    },
};

impl Primitive for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("a", Attr::Int(self.a)), ("b", Attr::Int(self.b))]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::transpose(ty(ins, 0)?, self.a, self.b)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let (i, j) = (axis(x.rank(), self.a)?, axis(x.rank(), self.b)?);
        Ok(vec![x.transpose(i, j)?.contiguous()?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let rank = cx.rank(0)?;
        let (i, j) = (export_axis(rank, self.a)?, export_axis(rank, self.b)?);
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(i, j);
        Ok(vec![cx.op(
            "Transpose",
            &[arg(args, 0)?],
            vec![attr_ints("perm", &perm)],
        )])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReduceKind {
    Mean,
    Sum,
    Max,
}

/// `mean`, `sum`, `max` over one axis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axis: i64,
    pub keepdim: bool,
}

const REDUCE_PARAMS: &[PrimParam] = &[
    PrimParam::tensor("x"),
    PrimParam::value("axis"),
    PrimParam::with("keepdim", Def::Bool(false)),
];

const fn reduce_decl(
    name: &'static str,
    lower: fn(&mut dyn ArgReader) -> Result<Op, ()>,
) -> PrimDecl {
    PrimDecl {
        name,
        params: REDUCE_PARAMS,
        returns: Returns::Tensor,
        gathers: false,
        lower,
    }
}

fn lower_reduce(a: &mut dyn ArgReader, kind: ReduceKind) -> Result<Op, ()> {
    Ok(Op::Reduce(Reduce {
        kind,
        axis: a.int("axis")?,
        keepdim: a.flag("keepdim")?,
    }))
}

pub const MEAN: PrimDecl = reduce_decl("mean", |a| lower_reduce(a, ReduceKind::Mean));
pub const SUM: PrimDecl = reduce_decl("sum", |a| lower_reduce(a, ReduceKind::Sum));
pub const MAX: PrimDecl = reduce_decl("max", |a| lower_reduce(a, ReduceKind::Max));

impl Primitive for Reduce {
    fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Mean => "mean",
            ReduceKind::Sum => "sum",
            ReduceKind::Max => "max",
        }
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("axis", Attr::Int(self.axis)),
            ("keepdim", Attr::Bool(self.keepdim)),
        ]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let x = ty(ins, 0)?;
        Ok(vec![r::reduce(x, self.axis, self.keepdim, self.name())?])
    }

    /// One per input element.
    fn flops(&self, f: &FlopCx) -> f64 {
        f.elems(f.x())
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        Ok(vec![match (self.kind, self.keepdim) {
            (ReduceKind::Mean, true) => x.mean_keepdim(ax)?,
            (ReduceKind::Mean, false) => x.mean(ax)?,
            (ReduceKind::Sum, true) => x.sum_keepdim(ax)?,
            (ReduceKind::Sum, false) => x.sum(ax)?,
            (ReduceKind::Max, true) => x.max_keepdim(ax)?,
            (ReduceKind::Max, false) => x.max(ax)?,
        }])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let x = arg(args, 0)?;
        let keep = attr_int("keepdims", i64::from(self.keepdim));
        // Opset 17: ReduceSum takes its axes as an input, ReduceMean and ReduceMax as an attribute.
        Ok(vec![match self.kind {
            ReduceKind::Sum => {
                let axes = cx.ints(&[self.axis]);
                cx.op("ReduceSum", &[x, &axes], vec![keep])
            }
            ReduceKind::Mean => cx.op(
                "ReduceMean",
                &[x],
                vec![attr_ints("axes", &[self.axis]), keep],
            ),
            ReduceKind::Max => cx.op(
                "ReduceMax",
                &[x],
                vec![attr_ints("axes", &[self.axis]), keep],
            ),
        }])
    }
}

/// `select(x, axis, index)`: one index along an axis, the axis dropped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Select {
    pub axis: i64,
    pub index: i64,
}

pub const SELECT: PrimDecl = PrimDecl {
    name: "select",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::value("axis"),
        PrimParam::value("index"),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Select(Select {
            axis: a.int("axis")?,
            index: a.int("index")?,
        }))
    },
};

impl Primitive for Select {
    fn name(&self) -> &'static str {
        "select"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("axis", Attr::Int(self.axis)),
            ("index", Attr::Int(self.index)),
        ]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::select(ty(ins, 0)?, self.axis, self.index)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        let n = x.dim(ax)? as i64;
        let i = if self.index < 0 {
            n + self.index
        } else {
            self.index
        };
        if i < 0 || i >= n {
            return Err(bug(format!("select index {} out of range {n}", self.index)));
        }
        Ok(vec![x.narrow(ax, i as usize, 1)?.squeeze(ax)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // A rank-0 index drops the axis, as `select` does; Gather counts a negative index from the end.
        let i = cx.int_scalar(self.index);
        Ok(vec![cx.op(
            "Gather",
            &[arg(args, 0)?, &i],
            vec![attr_int("axis", self.axis)],
        )])
    }
}

/// `slice(x, axis, start, end)`: `start..end` along an axis (negative bounds count from the end).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slice {
    pub axis: i64,
    pub start: i64,
    pub end: i64,
}

pub const SLICE: PrimDecl = PrimDecl {
    name: "slice",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::value("axis"),
        PrimParam::value("start"),
        PrimParam::value("end"),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Slice(Slice {
            axis: a.int("axis")?,
            start: a.int("start")?,
            end: a.int("end")?,
        }))
    },
};

impl Primitive for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("axis", Attr::Int(self.axis)),
            ("start", Attr::Int(self.start)),
            ("end", Attr::Int(self.end)),
        ]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::slice(
            ty(ins, 0)?,
            self.axis,
            self.start,
            self.end,
        )?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        let n = x.dim(ax)? as i64;
        let norm = |v: i64| if v < 0 { n + v } else { v };
        let s = norm(self.start).clamp(0, n);
        let e = norm(self.end).clamp(s, n);
        Ok(vec![x.narrow(ax, s as usize, (e - s) as usize)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // ONNX Slice counts negative bounds from the end and clamps both, as `slice` does.
        let (s, e, a) = (
            cx.ints(&[self.start]),
            cx.ints(&[self.end]),
            cx.ints(&[self.axis]),
        );
        Ok(vec![cx.op("Slice", &[arg(args, 0)?, &s, &e, &a], vec![])])
    }
}

/// `last_valid(seq [B, T, D], lengths i64[B]) -> [B, D]`: the step at `lengths - 1` of each sequence.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LastValid;

pub const LAST_VALID: PrimDecl = PrimDecl {
    name: "last_valid",
    params: &[PrimParam::tensor("seq"), PrimParam::tensor("lengths")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |_| Ok(Op::LastValid(LastValid)),
};

impl Primitive for LastValid {
    fn name(&self) -> &'static str {
        "last_valid"
    }

    stateless!(Arity::exactly(2));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![rn::last_valid(ty(ins, 0)?, ty(ins, 1)?)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![nn::last_valid(k.arg(args, 0)?, k.arg(args, 1)?)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // index = clamp(lengths, 1, T) - 1 per example, then GatherND over (example, step).
        let (seq, lengths) = (arg(args, 0)?, arg(args, 1)?);
        let one = cx.ints(&[1]);
        let shape = cx.op("Shape", &[seq], vec![]);
        let two = cx.ints(&[2]);
        let t = cx.op("Slice", &[&shape, &one, &two], vec![]);
        let low = cx.op("Max", &[lengths, &one], vec![]);
        let clamped = cx.op("Min", &[&low, &t], vec![]);
        let index = cx.op("Sub", &[&clamped, &one], vec![]);
        let index = cx.op("Unsqueeze", &[&index, &one], vec![]); // [B, 1]
        Ok(vec![cx.op(
            "GatherND",
            &[seq, &index],
            vec![attr_int("batch_dims", 1)],
        )])
    }
}

/// `pad(x, before, after, value, axis)`: `before` and `after` entries of `value` along an axis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pad {
    pub axis: i64,
    pub before: i64,
    pub after: i64,
    pub value: f64,
}

pub const PAD: PrimDecl = PrimDecl {
    name: "pad",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::with("before", Def::Int(0)),
        PrimParam::with("after", Def::Int(0)),
        PrimParam::with("value", Def::Float(0.0)),
        PrimParam::with("axis", Def::Int(-1)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Pad(Pad {
            axis: a.int("axis")?,
            before: a.count("before")?,
            after: a.count("after")?,
            value: a.float("value")?,
        }))
    },
};

impl Primitive for Pad {
    fn name(&self) -> &'static str {
        "pad"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("axis", Attr::Int(self.axis)),
            ("before", Attr::Int(self.before)),
            ("after", Attr::Int(self.after)),
            ("value", Attr::Float(self.value)),
        ]
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let x = ty(ins, 0)?;
        Ok(vec![r::pad(x, self.axis, self.before, self.after)?])
    }

    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let ax = axis(x.rank(), self.axis)?;
        Ok(vec![nn::pad(x, ax, self.before, self.after, self.value)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let rank = cx.rank(0)?;
        let ax = export_axis(rank, self.axis)?;
        let mut pads = vec![0; 2 * rank];
        pads[ax] = self.before;
        pads[rank + ax] = self.after;
        let pads = cx.ints(&pads);
        let value = cx.scalar(self.value as f32);
        Ok(vec![cx.op("Pad", &[arg(args, 0)?, &pads, &value], vec![])])
    }
}

/// An axis (negative from the end) as an index below `rank`.
fn export_axis(rank: usize, a: i64) -> Result<usize, ExportError> {
    axis(rank, a).map_err(|e| ExportError::Internal(e.to_string()))
}
