//! Forward FLOPs of one node, computed from types alone (no tensor is allocated). Each op's count is its
//! `Primitive::flops` in `crate::ops`, built from the helpers here.
//!
//! Conventions (documented for `fusec summary`):
//! - a multiply-add counts 2 FLOPs; a bias add, an elementwise op or a comparison counts 1 per element;
//! - `linear`: `2·in·out + out` per row; `matmul`: `2·m·k·n` per matrix product; `outer`: `m·n` per row;
//! - `conv1d`/`conv2d`: `2·C·k(·k)·out + out` per output position;
//! - `lstm`/`gru` with G gates (4 or 3): per step, layer and direction `2·G·H·(I + H) + 2·G·H` for the
//!   products and biases, plus `5·H` (LSTM) or `4·H` (GRU) for the state update;
//! - `attention`: the q/k/v and output projections (`2·d²` per position each), the scores and the weighted sum
//!   (`2·Tq·Tk·d` each) and the softmax (`3·Tq·Tk·heads`); `transformer_layer` adds two layer norms, the residuals
//!   and the feed-forward block (`4·d·ff + ff` per position);
//! - `attention_decoder` per target step: the LSTM cell as above, dot attention (`4·Tx·H + 3·Tx`), the
//!   concat layer (`4·H² + 2·H`) and the output layer (`2·(H + E)·V + V`);
//! - `softmax` 3, `layer_norm` 5, `batch_norm` 2, a loss 3 FLOPs per element; reductions 1 per input element;
//! - data movement (concat, split, reshape, transpose, select, slice, pad, last_valid, positions, stop_gradient,
//!   embedding lookups) and inputs, params and numbers count 0.
//!
//! Sizes are the types with the batch dim set to 1 (so the numbers are per example) and other symbolic dims
//! (`T`) set from the caller's bindings, 1 when unbound.

use crate::ir::{Cell, Dim, Dtype, Op, TensorType};
use crate::ops::Env;

/// Product of dims under the bindings (unbound symbols count as 1). In f64: counts are estimates and must never
/// overflow, whatever the sizes.
pub fn elems(t: &TensorType, env: &Env) -> f64 {
    t.dims.iter().map(|d| size(d, env)).product()
}

pub fn size(d: &Dim, env: &Env) -> f64 {
    match d {
        Dim::Fixed(n) => *n as f64,
        Dim::Sym(s) => env.get(s).copied().unwrap_or(1) as f64,
    }
}

/// FLOPs of one node given its operand and output types (saturating at `i64::MAX`); ops without operands or
/// outputs count 0.
pub fn node_flops(op: &Op, ins: &[TensorType], outs: &[TensorType], env: &Env) -> i64 {
    if ins.is_empty() || outs.is_empty() {
        return 0;
    }
    op.prim().flops(&FlopCx { ins, outs, env }) as i64
}

/// What an op's FLOP count is computed from: its operand and output types, and the symbol bindings.
pub struct FlopCx<'a> {
    pub ins: &'a [TensorType],
    pub outs: &'a [TensorType],
    pub env: &'a Env,
}

/// The type standing in for a missing operand or output (never reached: [`node_flops`] skips such nodes).
static NONE: TensorType = TensorType {
    dtype: Dtype::F32,
    dims: Vec::new(),
};

impl FlopCx<'_> {
    /// The first operand.
    pub fn x(&self) -> &TensorType {
        self.ins.first().unwrap_or(&NONE)
    }

    /// The first output.
    pub fn y(&self) -> &TensorType {
        self.outs.first().unwrap_or(&NONE)
    }

    /// Elements of the first output.
    pub fn n_out(&self) -> f64 {
        elems(self.y(), self.env)
    }

    pub fn elems(&self, t: &TensorType) -> f64 {
        elems(t, self.env)
    }

    /// The last dim of `t` (1 for a scalar).
    pub fn last(&self, t: &TensorType) -> f64 {
        t.dims.last().map(|d| size(d, self.env)).unwrap_or(1.0)
    }

    /// Axis 1 of `t` (1 when absent).
    pub fn axis1(&self, t: &TensorType) -> f64 {
        t.dims.get(1).map(|d| size(d, self.env)).unwrap_or(1.0)
    }

    /// A per-position layer: `per_row` FLOPs for each of the output's rows of width `width`.
    pub fn per_row(&self, width: f64, per_row: f64) -> f64 {
        (self.n_out() / width.max(1.0)) * per_row
    }
}

/// `lstm`/`gru` with `g` gates over `x [B, T, I]`.
pub fn recurrent(cx: &FlopCx, cell: Cell, h: f64, layers: u32, bi: bool) -> f64 {
    let x = cx.x();
    let (g, update) = if cell == Cell::Lstm {
        (4.0, 5.0)
    } else {
        (3.0, 4.0)
    };
    let t = cx.axis1(x);
    let dirs = if bi { 2.0 } else { 1.0 };
    (0..layers)
        .map(|layer| {
            let i = if layer == 0 { cx.last(x) } else { h * dirs };
            dirs * t * (2.0 * g * h * (i + h) + 2.0 * g * h + update * h)
        })
        .sum()
}

/// Multi-head attention of `q` over `kv` (itself when absent): projections, scores, weighted sum, softmax.
pub fn attention(cx: &FlopCx, heads: u32) -> f64 {
    let q = cx.x();
    let d = cx.last(q);
    let tq = cx.axis1(q);
    let tk = cx.ins.get(1).map(|k| cx.axis1(k)).unwrap_or(tq);
    // q, k, v and output projections; scores and the weighted sum; the softmax.
    let proj = 2.0 * d * d * (tq + 2.0 * tk) + 2.0 * d * d * tq;
    proj + 2.0 * 2.0 * tq * tk * d + 3.0 * tq * tk * f64::from(heads)
}
