//! Forward FLOPs of one node, computed from types alone (no tensor is allocated).
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
//! - `softmax` 3, `layer_norm` 5, `batch_norm` 2, a loss 3 FLOPs per element; reductions 1 per input element;
//! - data movement (concat, split, reshape, transpose, select, slice, pad, last_valid, positions, stop_gradient,
//!   embedding lookups) and inputs, params and numbers count 0.
//!
//! Sizes are the types with the batch dim set to 1 (so the numbers are per example) and other symbolic dims
//! (`T`) set from the caller's bindings, 1 when unbound.

use std::collections::HashMap;

use crate::ir::{Cell, Dim, Op, TensorType};

/// Product of dims under the bindings (unbound symbols count as 1).
pub fn elems(t: &TensorType, env: &HashMap<String, i64>) -> i64 {
    t.dims.iter().map(|d| size(d, env)).product()
}

pub fn size(d: &Dim, env: &HashMap<String, i64>) -> i64 {
    match d {
        Dim::Fixed(n) => *n,
        Dim::Sym(s) => env.get(s).copied().unwrap_or(1),
    }
}

fn last(t: &TensorType, env: &HashMap<String, i64>) -> i64 {
    t.dims.last().map(|d| size(d, env)).unwrap_or(1)
}

/// FLOPs of one node given its operand and output types.
pub fn node_flops(
    op: &Op,
    ins: &[TensorType],
    outs: &[TensorType],
    env: &HashMap<String, i64>,
) -> i64 {
    let (Some(x), Some(y)) = (ins.first(), outs.first()) else {
        return 0;
    };
    let n_out = elems(y, env);
    match op {
        Op::Linear { bias, .. } => {
            let (i, o) = (last(x, env), last(y, env));
            let rows = n_out / o.max(1);
            rows * (2 * i * o + if *bias { o } else { 0 })
        }
        Op::MatMul => {
            let k = last(x, env);
            // Every output element is one dot product of length k.
            2 * k * n_out
        }
        Op::Outer | Op::Act(_) | Op::Dropout { .. } | Op::Noise { .. } | Op::Binary(_) => n_out,
        Op::Softmax { .. } => 3 * n_out,
        Op::LayerNorm { .. } => 5 * n_out,
        Op::BatchNorm { .. } => 2 * n_out,
        Op::Reduce { .. } => elems(x, env),
        Op::Loss(_) => 3 * elems(x, env),
        Op::Conv1d { kernel, bias, .. } => {
            let (c, o) = (last(x, env), last(y, env));
            (n_out / o.max(1)) * (2 * c * kernel * o + if *bias { o } else { 0 })
        }
        Op::Conv2d { kernel, bias, .. } => {
            let c = x.dims.get(1).map(|d| size(d, env)).unwrap_or(1);
            let o = y.dims.get(1).map(|d| size(d, env)).unwrap_or(1);
            (n_out / o.max(1)) * (2 * c * kernel * kernel * o + if *bias { o } else { 0 })
        }
        Op::Recurrent {
            cell,
            hidden,
            layers,
            bidirectional,
            ..
        } => {
            let h = hidden_of(hidden, y, *bidirectional, env);
            recurrent(*cell, x, h, *layers, *bidirectional, env)
        }
        Op::Attention { heads, .. } => attention(x, ins.get(1), *heads, env),
        Op::TransformerLayer { heads, ff, .. } => {
            let (t, d) = (
                x.dims.get(1).map(|d| size(d, env)).unwrap_or(1),
                last(x, env),
            );
            let f = match ff {
                crate::ir::DimExpr::Const(f) => *f,
                _ => 4 * d,
            };
            attention(x, ins.get(1), *heads, env) + t * (2 * 5 * d + 2 * d + 4 * d * f + f + 2 * d)
        }
        _ => 0,
    }
}

fn hidden_of(
    hidden: &crate::ir::DimExpr,
    y: &TensorType,
    bidirectional: bool,
    env: &HashMap<String, i64>,
) -> i64 {
    match hidden {
        crate::ir::DimExpr::Const(h) => *h,
        // Unresolved: recover it from the output width.
        _ => last(y, env) / if bidirectional { 2 } else { 1 },
    }
}

fn recurrent(
    cell: Cell,
    x: &TensorType,
    h: i64,
    layers: u32,
    bi: bool,
    env: &HashMap<String, i64>,
) -> i64 {
    let g = if cell == Cell::Lstm { 4 } else { 3 };
    let update = if cell == Cell::Lstm { 5 } else { 4 };
    let t = x.dims.get(1).map(|d| size(d, env)).unwrap_or(1);
    let dirs = if bi { 2 } else { 1 };
    let mut total = 0;
    for layer in 0..i64::from(layers) {
        let i = if layer == 0 { last(x, env) } else { h * dirs };
        total += dirs * t * (2 * g * h * (i + h) + 2 * g * h + update * h);
    }
    total
}

fn attention(
    q: &TensorType,
    kv: Option<&TensorType>,
    heads: u32,
    env: &HashMap<String, i64>,
) -> i64 {
    let d = last(q, env);
    let tq = q.dims.get(1).map(|d| size(d, env)).unwrap_or(1);
    let tk = kv
        .and_then(|k| k.dims.get(1))
        .map(|d| size(d, env))
        .unwrap_or(tq);
    let proj = 2 * d * d * (tq + 2 * tk) + 2 * d * d * tq;
    proj + 2 * 2 * tq * tk * d + 3 * tq * tk * i64::from(heads)
}
