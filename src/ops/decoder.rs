//! `attention_decoder`: an LSTM decoder with Luong dot attention (architectures.md §5.4), teacher-forced here;
//! `backend::decode` reruns the same parameters one step at a time for greedy and beam search.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{Def, PrimDecl, PrimParam, Returns};
use super::{dim_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::Rule;
use crate::check::rules_nn as rn;
use crate::export::{ExportError, Mapped, OnnxCx};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, DecoderState, DecoderWeights};
use crate::summary::flops::FlopCx;

/// How an attention decoder's initial LSTM state comes from its `init` operand (architectures.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DecoderInit {
    /// `c0 = init`, `h0 = 0` (the paper's code, the default).
    Cell,
    /// `h0 = init`, `c0 = 0`.
    Hidden,
    /// `h0 = c0 = init`.
    Both,
}

/// Operands: `memory [B, Tx, H]` (zero at padding), `lengths i64[B]` (source mask), `init [B, H]`,
/// `targets i64[B, Ty]`. Port 0: teacher-forced `logits [B, Ty, V]`, position t scoring token t + 1 from tokens
/// 0..=t (use with `LossKind::NextToken`). Parameters: [`DecoderWeights`]. Other decoders (GRU, other attention
/// scores) would be further ops with the same operands and the same step interface in `nn::decoder`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decoder {
    pub vocab: DimExpr,
    pub emb: DimExpr,
    pub dropout: f64,
    pub init: DecoderInit,
}

pub const ATTENTION_DECODER: PrimDecl = PrimDecl {
    name: "attention_decoder",
    params: &[
        PrimParam::tensor("memory"),
        PrimParam::tensor("lengths"),
        PrimParam::tensor("state"),
        PrimParam::tensor("targets"),
        PrimParam::value("vocab"),
        PrimParam::with("emb", Def::Int(300)),
        PrimParam::with("dropout", Def::Float(0.0)),
        PrimParam::with("init", Def::Str("cell")),
    ],
    returns: Returns::Tensor,
    gathers: false,
    lower: |a| {
        Ok(Op::Decoder(Decoder {
            vocab: a.dim("vocab")?,
            emb: a.dim("emb")?,
            dropout: a.prob("dropout")?,
            init: match a.choice("init", &["cell", "hidden", "both"])?.as_str() {
                "hidden" => DecoderInit::Hidden,
                "both" => DecoderInit::Both,
                _ => DecoderInit::Cell,
            },
        }))
    },
};

impl Primitive for Decoder {
    fn name(&self) -> &'static str {
        "attention_decoder"
    }

    fn arity(&self) -> Arity {
        Arity::exactly(4)
    }

    fn n_outputs(&self) -> usize {
        1
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        let init = match self.init {
            DecoderInit::Cell => "cell",
            DecoderInit::Hidden => "hidden",
            DecoderInit::Both => "both",
        };
        vec![
            ("vocab", Attr::Dim(&self.vocab)),
            ("emb", Attr::Dim(&self.emb)),
            ("dropout", Attr::Float(self.dropout)),
            ("init", Attr::Text(init.to_string())),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        vec![&mut self.vocab, &mut self.emb]
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
        eval: &dyn Fn(&DimExpr) -> Option<i64>,
    ) -> Option<Vec<ParamSpec>> {
        let (v, e) = (eval(&self.vocab)?, eval(&self.emb)?);
        Some(DecoderWeights::specs(v, e, dim_fixed(inputs, 0, 2)?))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let v = cx.size(&self.vocab, "attention_decoder: `vocab`")?;
        let e = cx.size(&self.emb, "attention_decoder: `emb`")?;
        let ins = [ty(ins, 0)?, ty(ins, 1)?, ty(ins, 2)?, ty(ins, 3)?];
        Ok(vec![rn::decoder(ins, v, e)?])
    }

    /// Per target step: the LSTM cell, dot attention (`4·Tx·H + 3·Tx`), the concat layer (`4·H² + 2·H`) and the
    /// output layer (`2·(H + E)·V + V`).
    fn flops(&self, f: &FlopCx) -> f64 {
        let (x, y) = (f.x(), f.y());
        let (h, tx, ty, v) = (f.last(x), f.axis1(x), f.axis1(y), f.last(y));
        let e = match &self.emb {
            DimExpr::Const(e) => *e as f64,
            _ => 0.0,
        };
        let cell = 2.0 * 4.0 * h * (e + h) + 8.0 * h + 5.0 * h;
        let attend = 4.0 * tx * h + 3.0 * tx + 4.0 * h * h + 2.0 * h;
        ty * (cell + attend + 2.0 * (h + e) * v + v)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let w = DecoderWeights::from_map(&k.params()?)?;
        let memory = k.arg(args, 0)?;
        let mask = nn::source_mask_bias(k.arg(args, 1)?, memory.dim(1)?, memory.dtype())?;
        let state = DecoderState::initial(k.arg(args, 2)?, self.init)?;
        let targets = k.arg(args, 3)?;
        Ok(vec![nn::teacher_forced(
            &w,
            memory,
            &mask,
            state,
            targets,
            self.dropout,
            k.rng(),
        )?])
    }

    fn onnx(&self, _: &mut OnnxCx<'_>, _: &[&str]) -> Mapped {
        Err(ExportError::Unsupported(
            "teacher-forced decoding and beam search have no ONNX mapping (translate with `fusec translate`)"
                .into(),
        ))
    }
}
