//! LSTM and GRU layers (PyTorch gate order and parameter names), stacked and optionally bidirectional, with
//! per-sequence lengths handled like packed sequences: state frozen past each length, outputs zero there, and the
//! backward direction starting from a zero state at each sequence's last valid step.
//!
//! The loop is kept lean because it dominates recurrent training time: the input projection of every time step is
//! one matmul before the loop, each step does one matmul for the hidden projection plus a handful of element-wise
//! ops, and masking is a `where_cond` (one op forward, exact zeros backward).

use candle_core::{DType, Result, Tensor};

use super::linear;
use super::params::RecurrentParams;
use crate::ir::{Cell, Merge};

/// Shape of a recurrent layer stack (mirrors `ir::Op::Recurrent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentConfig {
    pub cell: Cell,
    pub hidden: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub merge: Merge,
}

/// What a recurrent stack produces: the top layer's sequence and final states.
#[derive(Clone, Debug)]
pub struct RecurrentOutput {
    /// `[B, T, H * dirs]` (`[B, T, H]` with `Merge::Sum`), zero at steps past each length.
    pub seq: Tensor,
    /// `[B, H * dirs]` (or `[B, H]`): forward state at `len - 1`, backward state after step 0.
    pub h: Tensor,
    /// The LSTM cell state, shaped like `h`; `None` for a GRU.
    pub c: Option<Tensor>,
}

/// Runs a stack of LSTM or GRU layers over a batch-first sequence.
///
/// Parameters ([`RecurrentParams`]) are PyTorch's: `weight_ih_l{k}[_reverse] [G*H, in]`, `weight_hh_l{k}... [G*H, H]`,
/// `bias_ih_l{k}... [G*H]`, `bias_hh_l{k}... [G*H]`, with gates (G = 4) i, f, g, o for LSTM and (G = 3) r, z, n
/// for GRU. Layer `k > 0` reads the merged sequence of layer `k - 1`. The initial state is zero.
///
/// # Shapes
/// `x [B, T, I]`, `lengths i64 [B]` (optional; all `T` when absent) -> [`RecurrentOutput`].
pub fn recurrent(
    x: &Tensor,
    lengths: Option<&Tensor>,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
) -> Result<RecurrentOutput> {
    let (batch, time, _) = x.dims3()?;
    if cfg.layers == 0 || cfg.hidden == 0 || time == 0 {
        candle_core::bail!("recurrent: layers, hidden size and sequence length must be positive");
    }
    let masks = match lengths {
        Some(l) => Some(step_masks(l, batch, time, cfg.hidden)?),
        None => None,
    };
    let mut input = x.clone();
    let mut top = None;
    for layer in 0..cfg.layers {
        let fwd = run_direction(&input, masks.as_deref(), p, cfg, layer, false)?;
        let out = if cfg.bidirectional {
            let bwd = run_direction(&input, masks.as_deref(), p, cfg, layer, true)?;
            merge(fwd, bwd, cfg.merge)?
        } else {
            fwd.into()
        };
        input = out.seq.clone();
        top = Some(out);
    }
    match top {
        Some(out) => Ok(out),
        None => candle_core::bail!("recurrent: no layers"),
    }
}

/// One `[B, H]` u8 predicate per time step: 1 where `t < lengths[b]`.
fn step_masks(lengths: &Tensor, batch: usize, time: usize, hidden: usize) -> Result<Vec<Tensor>> {
    if lengths.dims() != [batch] {
        candle_core::bail!(
            "recurrent: lengths must be [{batch}], got {:?}",
            lengths.dims()
        );
    }
    let steps = Tensor::arange(0i64, time as i64, lengths.device())?.unsqueeze(0)?; // [1, T]
    let lengths = lengths.to_dtype(DType::I64)?.unsqueeze(1)?; // [B, 1]
    let valid = steps.broadcast_lt(&lengths)?; // [B, T] u8
    (0..time)
        .map(|t| {
            valid
                .narrow(1, t, 1)?
                .broadcast_as((batch, hidden))?
                .contiguous()
        })
        .collect()
}

/// The sequence and final state of one direction of one layer.
struct DirectionOutput {
    seq: Tensor,
    h: Tensor,
    c: Option<Tensor>,
}

fn run_direction(
    x: &Tensor,
    masks: Option<&[Tensor]>,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
    layer: usize,
    reverse: bool,
) -> Result<DirectionOutput> {
    let (steps, weights) = project_inputs(x, p, cfg, layer, reverse)?;
    let (time, batch) = (steps.len(), x.dim(0)?);
    let zeros = Tensor::zeros((batch, cfg.hidden), x.dtype(), x.device())?;
    let mut state = State {
        h: zeros.clone(),
        c: zeros.clone(),
        first: true,
    };
    let mut outs = Vec::with_capacity(time);
    let order: Vec<usize> = if reverse {
        (0..time).rev().collect()
    } else {
        (0..time).collect()
    };
    for t in order {
        let (h_new, c_new) = match cfg.cell {
            Cell::Lstm => lstm_step(&steps[t], &state, &weights)?,
            Cell::Gru => (gru_step(&steps[t], &state, &weights)?, None),
        };
        outs.push(advance(
            &mut state,
            h_new,
            c_new,
            masks.map(|m| &m[t]),
            &zeros,
        )?);
    }
    if reverse {
        outs.reverse();
    }
    let c = match cfg.cell {
        Cell::Lstm => Some(state.c),
        Cell::Gru => None,
    };
    Ok(DirectionOutput {
        seq: Tensor::stack(&outs, 1)?,
        h: state.h,
        c,
    })
}

/// The input projections of every step (one matmul for the whole sequence) and the per-step weights.
fn project_inputs(
    x: &Tensor,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
    layer: usize,
    reverse: bool,
) -> Result<(Vec<Tensor>, StepWeights)> {
    let cell = p.cell(layer, reverse)?;
    let (w_ih, w_hh) = (&cell.weight_ih, &cell.weight_hh);
    let (b_ih, b_hh) = (&cell.bias_ih, &cell.bias_hh);
    let proj = match cfg.cell {
        // The LSTM adds both biases before any non-linearity, so they fold into the input projection.
        Cell::Lstm => linear(x, w_ih, Some(&b_ih.add(b_hh)?))?,
        // The GRU's n gate scales the hidden bias by r, so b_hh stays with the hidden projection.
        Cell::Gru => linear(x, w_ih, Some(b_ih))?,
    };
    // Time-major, so each step is a contiguous [B, G*H] block.
    let proj = proj.transpose(0, 1)?.contiguous()?; // [T, B, G*H]
    let mut steps = Vec::with_capacity(proj.dim(0)?);
    split_steps(&proj, &mut steps)?;
    let weights = StepWeights {
        w_hh_t: w_hh.t()?,
        b_hh: b_hh.clone(),
        hidden: cfg.hidden,
    };
    Ok((steps, weights))
}

/// Moves the state to `(h_new, c_new)` where the step is valid (everywhere without masks) and returns the step's
/// output: `h_new`, or zero past a sequence's length.
fn advance(
    state: &mut State,
    h_new: Tensor,
    c_new: Option<Tensor>,
    valid: Option<&Tensor>,
    zeros: &Tensor,
) -> Result<Tensor> {
    state.first = false;
    match valid {
        Some(valid) => {
            state.h = valid.where_cond(&h_new, &state.h)?;
            if let Some(c_new) = c_new {
                state.c = valid.where_cond(&c_new, &state.c)?;
            }
            valid.where_cond(&h_new, zeros)
        }
        None => {
            state.h = h_new.clone();
            if let Some(c_new) = c_new {
                state.c = c_new;
            }
            Ok(h_new)
        }
    }
}

/// Splits `[T, B, G]` into T tensors `[B, G]` by halving. The backward pass of a narrow materialises a gradient as
/// large as its input, so taking each step straight from the whole tensor costs T full-size gradients; halving
/// costs about two per level, log2(T) levels.
fn split_steps(x: &Tensor, out: &mut Vec<Tensor>) -> Result<()> {
    let n = x.dim(0)?;
    if n == 1 {
        out.push(x.squeeze(0)?);
        return Ok(());
    }
    let half = n / 2;
    split_steps(&x.narrow(0, 0, half)?, out)?;
    split_steps(&x.narrow(0, half, n - half)?, out)
}

/// The recurrent state between steps; `first` marks the all-zero initial state, whose projection is skipped.
struct State {
    h: Tensor,
    c: Tensor,
    first: bool,
}

struct StepWeights {
    /// `weight_hh^T [H, G*H]`, a transposed view (matmul reads it without a copy).
    w_hh_t: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

/// One LSTM step: `gx [B, 4H]` already holds `x W_ih^T + b_ih + b_hh`. Returns `(h', c')`.
fn lstm_step(gx: &Tensor, state: &State, w: &StepWeights) -> Result<(Tensor, Option<Tensor>)> {
    let hs = w.hidden;
    let gates = if state.first {
        gx.clone()
    } else {
        gx.add(&state.h.matmul(&w.w_hh_t)?)?
    };
    // On a GPU the gate math is one fused kernel launch (`nn::lstm_cell`) instead of a dozen. The CPU keeps the
    // composite ops: its f32 training runs the fused kernels of `nn::fused`, which tests compare with this path.
    if !gates.device().is_cpu() {
        let (h, c) = super::lstm_cell(&gates, &state.c)?;
        return Ok((h, Some(c)));
    }
    // One sigmoid over all four blocks is cheaper than three narrow sigmoids; the g block is unused.
    let sig = candle_nn::ops::sigmoid(&gates)?;
    let (i, f, o) = (
        sig.narrow(1, 0, hs)?,
        sig.narrow(1, hs, hs)?,
        sig.narrow(1, 3 * hs, hs)?,
    );
    let g = gates.narrow(1, 2 * hs, hs)?.tanh()?;
    let c_new = if state.first {
        i.mul(&g)?
    } else {
        f.mul(&state.c)?.add(&i.mul(&g)?)?
    };
    let h_new = o.mul(&c_new.tanh()?)?;
    Ok((h_new, Some(c_new)))
}

/// One GRU step: `gx [B, 3H]` holds `x W_ih^T + b_ih`. Returns `h'`.
fn gru_step(gx: &Tensor, state: &State, w: &StepWeights) -> Result<Tensor> {
    let hs = w.hidden;
    let gh = if state.first {
        w.b_hh.unsqueeze(0)?
    } else {
        state.h.matmul(&w.w_hh_t)?.broadcast_add(&w.b_hh)?
    };
    if !gx.device().is_cpu() {
        // One fused kernel launch for the gate math on a GPU (see `lstm_step`).
        let gh = gh.broadcast_as(gx.dims())?.contiguous()?;
        return super::gru_cell(gx, &gh, &state.h);
    }
    let rz = candle_nn::ops::sigmoid(&gx.narrow(1, 0, 2 * hs)?.broadcast_add(&gh.narrow(
        1,
        0,
        2 * hs,
    )?)?)?;
    let (r, z) = (rz.narrow(1, 0, hs)?, rz.narrow(1, hs, hs)?);
    let n = gx
        .narrow(1, 2 * hs, hs)?
        .add(&r.broadcast_mul(&gh.narrow(1, 2 * hs, hs)?)?)?
        .tanh()?;
    // h' = (1 - z) * n + z * h = n + z * (h - n)
    n.add(&z.mul(&state.h.sub(&n)?)?)
}

/// Combines the two directions of a layer.
fn merge(fwd: DirectionOutput, bwd: DirectionOutput, how: Merge) -> Result<RecurrentOutput> {
    let join = |a: &Tensor, b: &Tensor, axis: usize| match how {
        Merge::Concat => Tensor::cat(&[a, b], axis),
        Merge::Sum => a.add(b),
    };
    let c = match (&fwd.c, &bwd.c) {
        (Some(cf), Some(cb)) => Some(join(cf, cb, 1)?),
        _ => None,
    };
    Ok(RecurrentOutput {
        seq: join(&fwd.seq, &bwd.seq, 2)?,
        h: join(&fwd.h, &bwd.h, 1)?,
        c,
    })
}

impl From<DirectionOutput> for RecurrentOutput {
    fn from(d: DirectionOutput) -> Self {
        RecurrentOutput {
            seq: d.seq,
            h: d.h,
            c: d.c,
        }
    }
}
