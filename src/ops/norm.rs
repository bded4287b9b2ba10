//! Normalisation layers: `layer_norm` over the last axis, `batch_norm` over the batch (and length) with running
//! statistics.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{dim_fixed, last_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::Rule;
use crate::check::rules_nn as rn;
use crate::export::{arg, attr_float, layer_norm, Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, BatchNormParams, LayerNormParams};
use crate::summary::flops::FlopCx;

/// `layer_norm(x, eps)`: over the last axis. Parameters: [`LayerNormParams`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerNorm {
    pub eps: f64,
}

pub const LAYER_NORM: PrimDecl = PrimDecl {
    name: "layer_norm",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::with("eps", Def::Float(1e-5)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::LayerNorm(LayerNorm {
            eps: a.nonneg("eps")?,
        }))
    },
};

impl Primitive for LayerNorm {
    fn name(&self) -> &'static str {
        "layer_norm"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![("eps", Attr::Float(self.eps))]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        Vec::new()
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
        _: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(LayerNormParams::specs(last_fixed(inputs, 0)?))
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![rn::norm(ty(ins, 0)?, false)?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        5.0 * f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = LayerNormParams::from_map(&k.params()?)?;
        Ok(vec![nn::layer_norm(
            k.arg(args, 0)?,
            &p.weight,
            &p.bias,
            self.eps,
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        Ok(vec![layer_norm(cx, arg(args, 0)?, "", self.eps)?])
    }
}

/// `batch_norm(x, eps, momentum)`: `[B, C]` (or `[B, C, L]`, statistics over B and L). Parameters:
/// [`BatchNormParams`] (two of them buffers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchNorm {
    pub eps: f64,
    pub momentum: f64,
}

pub const BATCH_NORM: PrimDecl = PrimDecl {
    name: "batch_norm",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::with("eps", Def::Float(1e-5)),
        PrimParam::with("momentum", Def::Float(0.1)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::BatchNorm(BatchNorm {
            eps: a.nonneg("eps")?,
            momentum: a.prob("momentum")?,
        }))
    },
};

impl Primitive for BatchNorm {
    fn name(&self) -> &'static str {
        "batch_norm"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(1)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("eps", Attr::Float(self.eps)),
            ("momentum", Attr::Float(self.momentum)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        Vec::new()
    }

    fn owns_params(&self) -> bool {
        true
    }

    /// Batch statistics in training, running ones at evaluation, but nothing drawn from the generator.
    fn is_stochastic(&self) -> bool {
        false
    }

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        _: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(BatchNormParams::specs(dim_fixed(inputs, 0, 1)?))
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![rn::norm(ty(ins, 0)?, true)?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        2.0 * f.n_out()
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = BatchNormParams::from_vars(&k.vars()?)?;
        Ok(vec![nn::batch_norm(
            k.arg(args, 0)?,
            &p.weight,
            &p.bias,
            &p.running_mean,
            &p.running_var,
            k.is_train(),
            self.eps,
            self.momentum,
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        // Prediction normalises with the running statistics: ONNX's inference-mode BatchNormalization, whose
        // `[N, C, ...]` layout is the op's `[B, C]` / `[B, C, L]`.
        let names = ["weight", "bias", "running_mean", "running_var"];
        let w = names.map(|n| cx.weight(n));
        let [scale, bias, mean, var] = w;
        let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
        Ok(vec![cx.op(
            "BatchNormalization",
            &[arg(args, 0)?, &scale, &bias, &mean, &var],
            vec![attr_float("epsilon", self.eps as f32)],
        )])
    }
}
