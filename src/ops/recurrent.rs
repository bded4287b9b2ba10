//! `lstm` and `gru`: stacked, optionally bidirectional recurrent layers over `[B, T, I]` with optional lengths.

use candle_core::Tensor;
use serde::Serialize;

use super::signature::{ArgReader, Def, PrimDecl, PrimParam, Returns};
use super::{last_fixed, ty, Arity, Attr, Primitive, ShapeCx};
use crate::backend::Kernel;
use crate::check::rules::Rule;
use crate::check::rules_nn as rn;
use crate::export::{arg, ExportError, Mapped, OnnxCx, Stack};
use crate::ir::{Dim, DimExpr, Op, ParamSpec, TensorType};
use crate::nn::{self, RecurrentConfig, RecurrentParams};
use crate::summary::flops::{self, FlopCx};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Cell {
    Lstm,
    Gru,
}

/// How a bidirectional recurrent layer combines its two directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Merge {
    Concat,
    Sum,
}

/// Operands: `x [B, T, I]`, optional `lengths i64[B]`. Ports: 0 `seq [B, T, H·dirs]` (or H with `Merge::Sum`),
/// 1 `h [B, H·dirs]` (final state at each sequence's true end; top layer), 2 `c` (LSTM only). Parameters:
/// [`RecurrentParams`] (PyTorch's names per layer and direction: `weight_ih_l{k}[_reverse]`, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recurrent {
    pub cell: Cell,
    pub hidden: DimExpr,
    pub layers: u32,
    pub bidirectional: bool,
    pub merge: Merge,
}

const PARAMS: &[PrimParam] = &[
    PrimParam::tensor("x"),
    PrimParam::value("hidden"),
    PrimParam::opt_tensor("lengths"),
    PrimParam::with("layers", Def::Int(1)),
    PrimParam::with("bidirectional", Def::Bool(false)),
    PrimParam::with("merge", Def::Str("concat")),
];

pub const LSTM: PrimDecl = PrimDecl {
    name: "lstm",
    params: PARAMS,
    returns: Returns::Record(&["seq", "h", "c"]),
    gathers: false,
    lower: |a| lower(a, Cell::Lstm),
};

pub const GRU: PrimDecl = PrimDecl {
    name: "gru",
    params: PARAMS,
    returns: Returns::Record(&["seq", "h", "c"]),
    gathers: false,
    lower: |a| lower(a, Cell::Gru),
};

/// Most layers one recurrent primitive may stack.
pub const MAX_LAYERS: u32 = 1024;

fn lower(a: &mut dyn ArgReader, cell: Cell) -> Result<Op, ()> {
    let merge = match a.choice("merge", &["concat", "sum"])?.as_str() {
        "sum" => Merge::Sum,
        _ => Merge::Concat,
    };
    Ok(Op::Recurrent(Recurrent {
        cell,
        hidden: a.dim("hidden")?,
        layers: a.positive("layers")? as u32,
        bidirectional: a.flag("bidirectional")?,
        merge,
    }))
}

impl Primitive for Recurrent {
    fn name(&self) -> &'static str {
        match self.cell {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    fn arity(&self) -> Arity {
        Arity::between(1, 2)
    }

    fn n_outputs(&self) -> usize {
        match self.cell {
            Cell::Lstm => 3,
            Cell::Gru => 2,
        }
    }

    fn attrs(&self) -> Vec<(&'static str, Attr<'_>)> {
        let merge = match self.merge {
            Merge::Concat => "concat",
            Merge::Sum => "sum",
        };
        vec![
            ("hidden", Attr::Dim(&self.hidden)),
            ("layers", Attr::Int(i64::from(self.layers))),
            ("bidirectional", Attr::Bool(self.bidirectional)),
            ("merge", Attr::Text(merge.to_string())),
        ]
    }

    fn dims_mut(&mut self) -> Vec<&mut DimExpr> {
        vec![&mut self.hidden]
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
        let h = eval(&self.hidden)?;
        let dirs = if self.bidirectional { 2 } else { 1 };
        let mut widths = vec![last_fixed(inputs, 0)?];
        for _ in 1..self.layers {
            // Layer k > 0 reads the merged sequence of layer k - 1.
            widths.push(match self.merge {
                Merge::Sum => h,
                Merge::Concat => h * dirs,
            });
        }
        Some(RecurrentParams::specs(
            self.cell,
            h,
            &widths,
            self.bidirectional,
        ))
    }

    fn shape(&self, cx: &dyn ShapeCx, ins: &[TensorType]) -> Rule<Vec<TensorType>> {
        let h = cx.size(&self.hidden, "the recurrent `hidden` size")?;
        rn::positive(i64::from(self.layers), "`layers`")?;
        // Each layer has its own weights: the parameter table (built after this rule) would grow with it.
        if self.layers > MAX_LAYERS {
            return Err(crate::check::rules::RuleError::new(
                "fusec::shape::size",
                format!("`layers` = {} is more than {MAX_LAYERS}", self.layers),
            )
            .help("a recurrent stack of a few layers is usual; more come out of a loop of calls"));
        }
        let (x, lengths) = (ty(ins, 0)?, ins.get(1));
        rn::recurrent(x, lengths, self.cell, h, self.bidirectional, self.merge)
    }

    fn flops(&self, f: &FlopCx) -> f64 {
        let h = match &self.hidden {
            DimExpr::Const(h) => *h as f64,
            // Unresolved: recover it from the output width.
            _ => f.last(f.y()) / if self.bidirectional { 2.0 } else { 1.0 },
        };
        flops::recurrent(f, self.cell, h, self.layers, self.bidirectional)
    }

    fn forward(&self, k: &mut Kernel<'_>, args: &[&Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let cfg = RecurrentConfig {
            cell: self.cell,
            hidden: k.fixed(&self.hidden)?,
            layers: self.layers as usize,
            bidirectional: self.bidirectional,
            merge: self.merge,
        };
        let p = RecurrentParams::from_map(&k.params()?, cfg.layers, cfg.bidirectional)?;
        let out = nn::recurrent(k.arg(args, 0)?, args.get(1).copied(), &p, &cfg)?;
        let mut v = vec![out.seq, out.h];
        v.extend(out.c);
        Ok(v)
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>, args: &[&str]) -> Mapped {
        let hidden = match &self.hidden {
            DimExpr::Const(h) if *h > 0 => *h as usize,
            other => {
                return Err(ExportError::Internal(format!(
                    "hidden size `{other}` not folded"
                )))
            }
        };
        let stack = Stack {
            cell: self.cell,
            hidden,
            layers: self.layers as usize,
            bidirectional: self.bidirectional,
            merge: self.merge,
        };
        crate::export::recurrent_layers(cx, arg(args, 0)?, args.get(1).copied(), &stack)
    }
}
