//! Losses: a prediction and a target in, the mean as `f32[]` out. A number written as the target
//! (`bce_with_logits(d_real, 1.0)`) arrives as a `Scalar` operand, a constant target broadcast to the prediction.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{PrimDecl, PrimParam, Returns};
use super::{ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::{self as r, Rule};
use crate::export::{ExportError, Mapped, OnnxCx};
use crate::ir::{Op, TensorType};
use crate::nn;
use crate::summary::flops::FlopCx;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LossKind {
    CrossEntropy,
    BceWithLogits,
    Mse,
    L1,
    /// Sequence cross-entropy for decoders: `logits [B, T, V]` at position t score target position t + 1
    /// (`targets i64[B, T]`); PAD (id 0) targets are ignored and the mean is over the remaining tokens.
    NextToken,
}

const PARAMS: &[PrimParam] = &[PrimParam::tensor("pred"), PrimParam::target("target")];

const fn decl(
    name: &'static str,
    lower: fn(&mut dyn super::ArgReader) -> Result<Op, ()>,
) -> PrimDecl {
    PrimDecl {
        name,
        params: PARAMS,
        returns: Returns::Tensor,
        gathers: false,
        lower,
    }
}

pub const CROSS_ENTROPY: PrimDecl = decl("cross_entropy", |_| Ok(Op::Loss(LossKind::CrossEntropy)));
pub const BCE_WITH_LOGITS: PrimDecl =
    decl("bce_with_logits", |_| Ok(Op::Loss(LossKind::BceWithLogits)));
pub const MSE: PrimDecl = decl("mse", |_| Ok(Op::Loss(LossKind::Mse)));
pub const L1: PrimDecl = decl("l1", |_| Ok(Op::Loss(LossKind::L1)));
pub const NEXT_TOKEN_CROSS_ENTROPY: PrimDecl = decl("next_token_cross_entropy", |_| {
    Ok(Op::Loss(LossKind::NextToken))
});

impl Primitive for LossKind {
    fn name(&self) -> &'static str {
        match self {
            LossKind::NextToken => "next_token_cross_entropy",
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::BceWithLogits => "bce_with_logits",
            LossKind::Mse => "mse",
            LossKind::L1 => "l1",
        }
    }

    stateless!(Arity::exactly(2));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![r::loss(*self, ty(ins, 0)?, ty(ins, 1)?)?])
    }

    /// 3 per prediction element.
    fn flops(&self, f: &FlopCx) -> f64 {
        3.0 * f.elems(f.x())
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        // A number as target (`bce_with_logits(d_real, 1.0)`) arrives as a scalar constant.
        let y = match (k.arg(args, 1)?, self) {
            (y, LossKind::CrossEntropy) => y.clone(),
            (y, _) if y.rank() == 0 => y.broadcast_as(x.shape())?,
            (y, _) => y.clone(),
        };
        let float_y = || y.to_dtype(x.dtype());
        Ok(vec![match self {
            LossKind::CrossEntropy => nn::cross_entropy(x, &y)?,
            LossKind::BceWithLogits => nn::bce_with_logits(x, &float_y()?)?,
            LossKind::Mse => nn::mse(x, &float_y()?)?,
            LossKind::L1 => nn::l1(x, &float_y()?)?,
            LossKind::NextToken => nn::next_token_cross_entropy(x, &y)?,
        }])
    }

    fn onnx(&self, _: &mut OnnxCx<'_>, _: &[&str]) -> Mapped {
        // The prediction graph computes outputs only; a loss there is a model output made of a loss.
        Err(ExportError::Unsupported(
            "losses are not part of an exported prediction graph".into(),
        ))
    }
}
