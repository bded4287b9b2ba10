//! Products: `linear` (a learned affine map), `embedding` (a learned lookup table), `matmul` (`@`) and `outer`
//! (TFN's flattened outer product).

use candle_core::{DType, Tensor};
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{last_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::{self as r, Rule};
use crate::check::rules_nn as rn;
use crate::export::{arg, attr_int, linear, Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, EmbeddingParams, LinearParams};
use crate::summary::flops::FlopCx;

/// `linear(x, out, bias)`: `[.., in] -> [.., out]`. Parameters: [`LinearParams`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Linear {
    pub out: DimExpr,
    pub bias: bool,
}

pub const LINEAR: PrimDecl = PrimDecl {
    name: "linear",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::value("out"),
        PrimParam::with("bias", Def::Bool(true)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Linear(Linear {
            out: a.dim("out")?,
            bias: a.flag("bias")?,
        }))
    },
};

impl Primitive for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("out", Attr::Dim(&self.out)),
            ("bias", Attr::Bool(self.bias)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        vec![&mut self.out]
    }

    fn owns_params(&self) -> bool {
        true
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let (i, o) = (last_fixed(inputs, 0)?, eval(&self.out)?);
        Some(LinearParams::specs(i, o, self.bias))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let out = cx.size(&self.out, "linear: `out`")?;
        Ok(vec![rn::linear(ty(ins, 0)?, out)?])
    }

    /// `2·in·out + out` per row.
    fn flops(&self, f: &FlopCx) -> f64 {
        let (i, o) = (f.last(f.x()), f.last(f.y()));
        let bias = if self.bias { o } else { 0.0 };
        f.per_row(o, 2.0 * i * o + bias)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = LinearParams::from_map(&k.params()?)?;
        Ok(vec![nn::linear(
            k.arg(args, 0)?,
            &p.weight,
            p.bias.as_ref(),
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        Ok(vec![linear(cx, arg(args, 0)?, "")?])
    }
}

/// `embedding(ids, vocab, dim)`: `i64[..] -> f32[.., dim]`. Parameters: [`EmbeddingParams`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Embedding {
    pub vocab: DimExpr,
    pub dim: DimExpr,
}

pub const EMBEDDING: PrimDecl = PrimDecl {
    name: "embedding",
    params: &[
        PrimParam::tensor("ids"),
        PrimParam::value("vocab"),
        PrimParam::value("dim"),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Embedding(Embedding {
            vocab: a.dim("vocab")?,
            dim: a.dim("dim")?,
        }))
    },
};

impl Primitive for Embedding {
    fn name(&self) -> &'static str {
        "embedding"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("vocab", Attr::Dim(&self.vocab)),
            ("dim", Attr::Dim(&self.dim)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        vec![&mut self.vocab, &mut self.dim]
    }

    fn owns_params(&self) -> bool {
        true
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        _: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(EmbeddingParams::specs(eval(&self.vocab)?, eval(&self.dim)?))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let v = cx.size(&self.vocab, "embedding: `vocab`")?;
        let d = cx.size(&self.dim, "embedding: `dim`")?;
        Ok(vec![rn::embedding(ty(ins, 0)?, v, d)?])
    }

    /// A lookup moves data only.
    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let w = EmbeddingParams::from_map(&k.params()?)?.weight;
        let ids = k.arg(args, 0)?;
        let flat = ids.flatten_all()?.to_dtype(DType::U32)?;
        let mut dims = ids.dims().to_vec();
        dims.push(w.dim(1)?);
        Ok(vec![w.index_select(&flat, 0)?.reshape(dims)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let w = cx.weight("weight")?;
        Ok(vec![cx.op(
            "Gather",
            &[&w, arg(args, 0)?],
            vec![attr_int("axis", 0)],
        )])
    }
}

/// `matmul(a, b)` / `a @ b`: batched, with broadcasting of the leading dims.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MatMul;

pub const MATMUL: PrimDecl = PrimDecl {
    name: "matmul",
    params: &[PrimParam::tensor("a"), PrimParam::tensor("b")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |_| Ok(Op::MatMul(MatMul)),
};

impl Primitive for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    stateless!(Arity::exactly(2));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::matmul(ty(ins, 0)?, ty(ins, 1)?)?])
    }

    /// Every output element is one dot product of length k.
    fn flops(&self, f: &FlopCx) -> f64 {
        2.0 * f.last(f.x()) * f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![nn::matmul(k.arg(args, 0)?, k.arg(args, 1)?)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // `torch.matmul`'s rules (rank-1 promotion, broadcast batch dims) are ONNX MatMul's.
        Ok(vec![cx.op(
            "MatMul",
            &[arg(args, 0)?, arg(args, 1)?],
            vec![],
        )])
    }
}

/// `outer(a [B, m], b [B, n]) -> [B, m·n]`, row-major (`out[b, i·n + j] = a[b,i]·b[b,j]`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Outer;

pub const OUTER: PrimDecl = PrimDecl {
    name: "outer",
    params: &[PrimParam::tensor("a"), PrimParam::tensor("b")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |_| Ok(Op::Outer(Outer)),
};

impl Primitive for Outer {
    fn name(&self) -> &'static str {
        "outer"
    }

    stateless!(Arity::exactly(2));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::outer(ty(ins, 0)?, ty(ins, 1)?)?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        Ok(vec![nn::outer(k.arg(args, 0)?, k.arg(args, 1)?)?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // a [B, m, 1] * b [B, 1, n] -> [B, m, n] -> [B, m·n]
        let (two, one) = (cx.ints(&[2]), cx.ints(&[1]));
        let a = cx.op("Unsqueeze", &[arg(args, 0)?, &two], vec![]);
        let b = cx.op("Unsqueeze", &[arg(args, 1)?, &one], vec![]);
        let prod = cx.op("Mul", &[&a, &b], vec![]);
        let flat = cx.ints(&[0, -1]);
        Ok(vec![cx.op("Reshape", &[&prod, &flat], vec![])])
    }
}
