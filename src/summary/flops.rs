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
//! - `attention_decoder` per target step: the LSTM cell as above, dot attention (`4·Tx·H + 3·Tx`), the
//!   concat layer (`4·H² + 2·H`) and the output layer (`2·(H + E)·V + V`);
//! - `softmax` 3, `layer_norm` 5, `batch_norm` 2, a loss 3 FLOPs per element; reductions 1 per input element;
//! - data movement (concat, split, reshape, transpose, select, slice, pad, last_valid, positions, stop_gradient,
//!   embedding lookups) and inputs, params and numbers count 0.
//!
//! Sizes are the types with the batch dim set to 1 (so the numbers are per example) and other symbolic dims
//! (`T`) set from the caller's bindings, 1 when unbound.

use std::collections::HashMap;

use crate::ir::{Cell, Dim, DimExpr, Op, TensorType};

/// Product of dims under the bindings (unbound symbols count as 1). In f64: counts are estimates and must never
/// overflow, whatever the sizes.
pub fn elems(t: &TensorType, env: &HashMap<String, i64>) -> f64 {
    t.dims.iter().map(|d| size(d, env)).product()
}

pub fn size(d: &Dim, env: &HashMap<String, i64>) -> f64 {
    match d {
        Dim::Fixed(n) => *n as f64,
        Dim::Sym(s) => env.get(s).copied().unwrap_or(1) as f64,
    }
}

fn last(t: &TensorType, env: &HashMap<String, i64>) -> f64 {
    t.dims.last().map(|d| size(d, env)).unwrap_or(1.0)
}

fn axis1(t: &TensorType, env: &HashMap<String, i64>) -> f64 {
    t.dims.get(1).map(|d| size(d, env)).unwrap_or(1.0)
}

/// FLOPs of one node given its operand and output types (saturating at `i64::MAX`).
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
    let bias = |b: bool, o: f64| if b { o } else { 0.0 };
    let f = match op {
        Op::Linear { bias: b, .. } => {
            let (i, o) = (last(x, env), last(y, env));
            (n_out / o.max(1.0)) * (2.0 * i * o + bias(*b, o))
        }
        // Every output element is one dot product of length k.
        Op::MatMul => 2.0 * last(x, env) * n_out,
        Op::Outer | Op::Act(_) | Op::Dropout { .. } | Op::Noise { .. } | Op::Binary(_) => n_out,
        Op::Softmax { .. } => 3.0 * n_out,
        Op::LayerNorm { .. } => 5.0 * n_out,
        Op::BatchNorm { .. } => 2.0 * n_out,
        Op::Reduce { .. } => elems(x, env),
        Op::Loss(_) => 3.0 * elems(x, env),
        Op::Conv1d {
            kernel, bias: b, ..
        } => {
            let (c, o) = (last(x, env), last(y, env));
            (n_out / o.max(1.0)) * (2.0 * c * *kernel as f64 * o + bias(*b, o))
        }
        Op::Conv2d {
            kernel, bias: b, ..
        } => {
            let (c, o, k) = (axis1(x, env), axis1(y, env), *kernel as f64);
            (n_out / o.max(1.0)) * (2.0 * c * k * k * o + bias(*b, o))
        }
        Op::Recurrent {
            cell,
            hidden,
            layers,
            bidirectional,
            ..
        } => {
            let h = match hidden {
                DimExpr::Const(h) => *h as f64,
                // Unresolved: recover it from the output width.
                _ => last(y, env) / if *bidirectional { 2.0 } else { 1.0 },
            };
            recurrent(*cell, x, h, *layers, *bidirectional, env)
        }
        Op::Attention { heads, .. } => attention(x, ins.get(1), *heads, env),
        Op::Decoder { emb, .. } => {
            let (h, tx, ty, v) = (last(x, env), axis1(x, env), axis1(y, env), last(y, env));
            let e = match emb {
                DimExpr::Const(e) => *e as f64,
                _ => 0.0,
            };
            let cell = 2.0 * 4.0 * h * (e + h) + 8.0 * h + 5.0 * h;
            let attend = 4.0 * tx * h + 3.0 * tx + 4.0 * h * h + 2.0 * h;
            ty * (cell + attend + 2.0 * (h + e) * v + v)
        }
        Op::TransformerLayer { heads, ff, .. } => {
            let (t, d) = (axis1(x, env), last(x, env));
            let f = match ff {
                DimExpr::Const(f) => *f as f64,
                _ => 4.0 * d,
            };
            attention(x, ins.get(1), *heads, env) + t * (2.0 * 5.0 * d + 2.0 * d + 4.0 * d * f + f)
        }
        _ => 0.0,
    };
    f as i64
}

fn recurrent(
    cell: Cell,
    x: &TensorType,
    h: f64,
    layers: u32,
    bi: bool,
    env: &HashMap<String, i64>,
) -> f64 {
    let (g, update) = if cell == Cell::Lstm {
        (4.0, 5.0)
    } else {
        (3.0, 4.0)
    };
    let t = axis1(x, env);
    let dirs = if bi { 2.0 } else { 1.0 };
    (0..layers)
        .map(|layer| {
            let i = if layer == 0 { last(x, env) } else { h * dirs };
            dirs * t * (2.0 * g * h * (i + h) + 2.0 * g * h + update * h)
        })
        .sum()
}

fn attention(
    q: &TensorType,
    kv: Option<&TensorType>,
    heads: u32,
    env: &HashMap<String, i64>,
) -> f64 {
    let d = last(q, env);
    let tq = axis1(q, env);
    let tk = kv.map(|k| axis1(k, env)).unwrap_or(tq);
    // q, k, v and output projections; scores and the weighted sum; the softmax.
    let proj = 2.0 * d * d * (tq + 2.0 * tk) + 2.0 * d * d * tq;
    proj + 2.0 * 2.0 * tq * tk * d + 3.0 * tq * tk * f64::from(heads)
}
