//! MulT's attention ops: multi-head `attention`, the pre-LN `transformer_layer`, and the sinusoidal `positions`
//! table.

use candle_core::{Tensor, D};
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{last_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::Rule;
use crate::check::rules_nn as rn;
use crate::export::{
    arg, attention, positions, transformer_layer, ExportError, Mapped, Mask, OnnxCx,
};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, AttentionParams, TransformerParams};
use crate::summary::flops::{self, FlopCx};

/// `attention(q, kv, heads, dropout, causal)`: `q [B, Tq, d]`, optional `kv [B, Tk, d]` (self-attention without
/// it) -> `[B, Tq, d]`. Parameters: [`AttentionParams`] (fairseq/MulT layout).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attention {
    pub heads: u32,
    pub dropout: f64,
    pub causal: bool,
}

pub const ATTENTION: PrimDecl = PrimDecl {
    name: "attention",
    params: &[
        PrimParam::tensor("q"),
        PrimParam::opt_tensor("kv"),
        PrimParam::value("heads"),
        PrimParam::with("dropout", Def::Float(0.0)),
        PrimParam::with("causal", Def::Bool(false)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Attention(Attention {
            heads: a.positive("heads")? as u32,
            dropout: a.prob("dropout")?,
            causal: a.flag("causal")?,
        }))
    },
};

impl Primitive for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn arity(&self) -> Arity {
        Arity::between(1, 2)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("heads", Attr::Int(i64::from(self.heads))),
            ("dropout", Attr::Float(self.dropout)),
            ("causal", Attr::Bool(self.causal)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        Vec::new()
    }

    fn owns_params(&self) -> bool {
        true
    }

    fn is_stochastic(&self) -> bool {
        self.dropout > 0.0
    }

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        _: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(AttentionParams::specs(last_fixed(inputs, 0)?))
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let q = ty(ins, 0)?;
        Ok(vec![rn::attention(q, ins.get(1), self.heads, "attention")?])
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        flops::attention(f, self.heads)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = AttentionParams::from_map(&k.params()?)?;
        let (q, kv) = (k.arg(args, 0)?, args.get(1).copied());
        let (heads, causal) = (self.heads as usize, self.causal);
        Ok(vec![nn::attention(
            q,
            kv,
            &p,
            heads,
            causal,
            self.dropout,
            k.rng(),
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let (d, causal) = attention_sizes(cx, self.causal)?;
        let (q, kv) = (arg(args, 0)?, args.get(1).copied());
        Ok(vec![attention(
            cx,
            q,
            kv,
            "",
            self.heads as usize,
            causal,
            d,
        )?])
    }
}

/// MulT's pre-LN layer: `x`, optional `kv` -> like `x`. Parameters: [`TransformerParams`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransformerLayer {
    pub heads: u32,
    pub ff: DimExpr,
    pub attn_dropout: f64,
    pub relu_dropout: f64,
    pub res_dropout: f64,
    pub causal: bool,
}

pub const TRANSFORMER_LAYER: PrimDecl = PrimDecl {
    name: "transformer_layer",
    params: &[
        PrimParam::tensor("x"),
        PrimParam::opt_tensor("kv"),
        PrimParam::value("heads"),
        PrimParam::with("ff", Def::None),
        PrimParam::with("dropout", Def::Float(0.0)),
        PrimParam::with("attn_dropout", Def::None),
        PrimParam::with("relu_dropout", Def::None),
        PrimParam::with("res_dropout", Def::None),
        PrimParam::with("causal", Def::Bool(false)),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        // `dropout` is the default of the three specific rates.
        let base = a.prob("dropout")?;
        let mut rate = |name: &str| {
            if a.given(name) {
                a.prob(name)
            } else {
                Ok(base)
            }
        };
        let (attn_dropout, relu_dropout, res_dropout) = (
            rate("attn_dropout")?,
            rate("relu_dropout")?,
            rate("res_dropout")?,
        );
        // `ff` defaults to four times the model width.
        let ff = if a.given("ff") {
            a.dim("ff")?
        } else {
            match a.width_of("x") {
                Some(d) => DimExpr::Mul(Box::new(DimExpr::Const(4)), Box::new(d)),
                None => DimExpr::Any,
            }
        };
        Ok(Op::TransformerLayer(TransformerLayer {
            heads: a.positive("heads")? as u32,
            ff,
            attn_dropout,
            relu_dropout,
            res_dropout,
            causal: a.flag("causal")?,
        }))
    },
};

impl Primitive for TransformerLayer {
    fn name(&self) -> &'static str {
        "transformer_layer"
    }

    fn arity(&self) -> Arity {
        Arity::between(1, 2)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        vec![
            ("heads", Attr::Int(i64::from(self.heads))),
            ("ff", Attr::Dim(&self.ff)),
            ("attn_dropout", Attr::Float(self.attn_dropout)),
            ("relu_dropout", Attr::Float(self.relu_dropout)),
            ("res_dropout", Attr::Float(self.res_dropout)),
            ("causal", Attr::Bool(self.causal)),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        vec![&mut self.ff]
    }

    fn owns_params(&self) -> bool {
        true
    }

    fn is_stochastic(&self) -> bool {
        self.attn_dropout > 0.0 || self.relu_dropout > 0.0 || self.res_dropout > 0.0
    }

    fn param_specs(
        &self,
        inputs: &[Vec<Dim>],
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        Some(TransformerParams::specs(
            last_fixed(inputs, 0)?,
            eval(&self.ff)?,
        ))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let what = "transformer_layer: `ff`";
        rn::positive(cx.size(&self.ff, what)?, what)?;
        let x = ty(ins, 0)?;
        Ok(vec![rn::attention(
            x,
            ins.get(1),
            self.heads,
            "transformer_layer",
        )?])
    }

    /// Attention, two layer norms, the residuals and the feed-forward block (`4·d·ff + ff` per position).
    fn flops(&self, f: &FlopCx) -> f64 {
        let (t, d) = (f.axis1(f.x()), f.last(f.x()));
        let ff = match &self.ff {
            DimExpr::Const(ff) => *ff as f64,
            _ => 4.0 * d,
        };
        flops::attention(f, self.heads) + t * (2.0 * 5.0 * d + 2.0 * d + 4.0 * d * ff + ff)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let p = TransformerParams::from_map(&k.params()?)?;
        let (x, kv) = (k.arg(args, 0)?, args.get(1).copied());
        Ok(vec![nn::transformer_layer(
            x,
            kv,
            &p,
            self.heads as usize,
            self.causal,
            self.attn_dropout,
            self.relu_dropout,
            self.res_dropout,
            k.rng(),
        )?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let (d, causal) = attention_sizes(cx, self.causal)?;
        let (x, kv) = (arg(args, 0)?, args.get(1).copied());
        Ok(vec![transformer_layer(
            cx,
            x,
            kv,
            self.heads as usize,
            causal,
            d,
        )?])
    }
}

/// `positions(x [B, T, d]) -> f32[T, d]`: the sinusoidal table (fairseq layout, positions from 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Positions;

pub const POSITIONS: PrimDecl = PrimDecl {
    name: "positions",
    params: &[PrimParam::tensor("x")],
    returns: Returns::Tensor,
    gathers: false,
    lower: |_| Ok(Op::Positions(Positions)),
};

impl Primitive for Positions {
    fn name(&self) -> &'static str {
        "positions"
    }

    stateless!(Arity::exactly(1));

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        Vec::new()
    }

    fn is_stochastic(&self) -> bool {
        false
    }

    fn shape(&self, _: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        Ok(vec![rn::positions(ty(ins, 0)?)?])
    }

    /// A table of constants.
    fn flops(&self, _: &FlopCx) -> f64 {
        0.0
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let x = k.arg(args, 0)?;
        let (t, d) = (x.dim(1)?, x.dim(D::Minus1)?);
        Ok(vec![nn::positions(t, d, k.device())?])
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let x = cx.in_type(0)?;
        let (t, d) = (
            x.dims.get(1).and_then(Dim::fixed),
            x.dims.last().and_then(Dim::fixed),
        );
        let Some(d) = d else {
            return Err(ExportError::Internal(
                "positions of a symbolic width".into(),
            ));
        };
        Ok(vec![match t {
            // A fixed length: the table itself, exactly as the kernel computes it.
            Some(t) => {
                let table = nn::positions(t as usize, d as usize, &candle_core::Device::Cpu)?;
                let values = table.flatten_all()?.to_vec1::<f32>()?;
                cx.floats("positions", &values, &[t, d])
            }
            None => positions(cx, arg(args, 0)?, d as usize)?,
        }])
    }
}

/// The model width of an attention op (the last dim of its query) and its causal mask: constant when the query
/// and key lengths are fixed numbers, built at run time otherwise.
fn attention_sizes(cx: &OnnxCx<'_>, causal: bool) -> Result<(usize, Mask), ExportError> {
    let q = cx.in_type(0)?;
    let d = q
        .dims
        .last()
        .and_then(Dim::fixed)
        .ok_or_else(|| ExportError::Internal("attention of a symbolic width".into()))?;
    if !causal {
        return Ok((d as usize, Mask::None));
    }
    let kv = if cx.n_operands() > 1 { 1 } else { 0 };
    let tq = q.dims.get(1).and_then(Dim::fixed);
    let tk = cx.in_type(kv)?.dims.get(1).and_then(Dim::fixed);
    Ok(match (tq, tk) {
        (Some(tq), Some(tk)) => (d as usize, Mask::Fixed(tq, tk)),
        _ => (d as usize, Mask::Runtime),
    })
}
