//! Stacked, optionally bidirectional LSTM / GRU layers over the fused single-direction kernels: the forward pass
//! keeps what backpropagation needs in a [`RecurrentTape`], and [`backward`] runs BPTT through every layer and
//! direction with no autograd graph. Semantics and parameter names are those of [`crate::nn::recurrent`]
//! (PyTorch's), which stays the reference the tests compare against and the path for other devices and dtypes.
//! With two or more threads the two directions of a layer run concurrently.

use candle_core::{bail, DType, Result, Tensor};

use super::gemm::{threads, Mat, MatMut};
use super::host::{self, HostF32};
use super::{gru, lstm};
use crate::ir::{Cell, Merge};
use crate::nn::{CellParams, RecurrentConfig, RecurrentOutput, RecurrentParams};

/// Everything the backward pass of a recurrent stack needs.
pub struct RecurrentTape {
    cfg: RecurrentConfig,
    batch: usize,
    time: usize,
    input: usize,
    lens: Vec<usize>,
    /// The stack's input `[B, T, I]` (layer 0 reads it).
    x: Tensor,
    layers: Vec<LayerTape>,
}

struct LayerTape {
    /// The merged output of the layer below (`None` for layer 0, which reads `RecurrentTape::x`).
    input: Option<Vec<f32>>,
    dirs: Vec<DirTape>,
}

enum DirTape {
    Lstm(lstm::LstmSaved),
    Gru(gru::GruSaved),
}

/// True when the fused kernels apply: f32 CPU input and parameters.
pub fn supported(x: &Tensor, p: &RecurrentParams) -> bool {
    let cell_ok = |c: &CellParams| {
        [&c.weight_ih, &c.weight_hh, &c.bias_ih, &c.bias_hh]
            .into_iter()
            .all(host::is_host_f32)
    };
    host::is_host_f32(x)
        && p.layers
            .iter()
            .all(|(f, r)| cell_ok(f) && r.as_ref().is_none_or(cell_ok))
}

/// Per-row valid lengths, clamped to `[0, T]` (all `T` without lengths).
fn lengths_of(lengths: Option<&Tensor>, batch: usize, time: usize) -> Result<Vec<usize>> {
    let Some(l) = lengths else {
        return Ok(vec![time; batch]);
    };
    if l.dims() != [batch] {
        bail!("recurrent: lengths must be [{batch}], got {:?}", l.dims());
    }
    Ok(l.to_dtype(DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|n| n.clamp(0, time as i64) as usize)
        .collect())
}

/// The parameter name of one of a direction's four tensors: `weight_ih_l0_reverse`.
fn name(kind: &str, layer: usize, dir: usize) -> String {
    format!("{kind}{}", RecurrentParams::tag(layer, dir == 1))
}

/// The four weight tensors of one direction of one layer.
struct DirParams<'a> {
    w_ih: HostF32<'a>,
    w_hh: HostF32<'a>,
    b_ih: HostF32<'a>,
    b_hh: HostF32<'a>,
}

impl<'a> DirParams<'a> {
    fn get(p: &'a RecurrentParams, layer: usize, dir: usize) -> Result<DirParams<'a>> {
        let cell = match (p.layers.get(layer), dir) {
            (Some((f, _)), 0) => f,
            (Some((_, Some(r))), 1) => r,
            _ => bail!("recurrent: no parameters for layer {layer}, direction {dir}"),
        };
        let view = |t: &'a Tensor| -> Result<HostF32<'a>> {
            match HostF32::of(t) {
                Some(v) => Ok(v),
                None => bail!(
                    "recurrent: a parameter of layer {layer} is not a contiguous f32 CPU tensor"
                ),
            }
        };
        Ok(DirParams {
            w_ih: view(&cell.weight_ih)?,
            w_hh: view(&cell.weight_hh)?,
            b_ih: view(&cell.bias_ih)?,
            b_hh: view(&cell.bias_hh)?,
        })
    }

    fn weights(&self) -> lstm::CellWeights<'_> {
        lstm::CellWeights {
            w_ih: self.w_ih.as_slice(),
            w_hh: self.w_hh.as_slice(),
            b_ih: self.b_ih.as_slice(),
            b_hh: self.b_hh.as_slice(),
        }
    }
}

/// Runs both directions (or one) of a layer, concurrently when threads allow.
fn both<T: Send>(dirs: usize, run: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    if dirs == 2 && threads() > 1 {
        let (a, b) = rayon::join(|| run(0), || run(1));
        Ok(vec![a?, b?])
    } else {
        (0..dirs).map(&run).collect()
    }
}

/// The forward pass. Returns the same outputs as [`crate::nn::recurrent`] and the tape for [`backward`].
pub fn forward(
    x: &Tensor,
    lengths: Option<&Tensor>,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
) -> Result<(RecurrentOutput, RecurrentTape)> {
    run(x, lengths, p, cfg, true)
}

/// The forward pass for evaluation and prediction: the same outputs, nothing kept for a backward pass (no
/// per-step states written, work buffers returned at once).
pub fn infer(
    x: &Tensor,
    lengths: Option<&Tensor>,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
) -> Result<RecurrentOutput> {
    Ok(run(x, lengths, p, cfg, false)?.0)
}

fn run(
    x: &Tensor,
    lengths: Option<&Tensor>,
    p: &RecurrentParams,
    cfg: &RecurrentConfig,
    save: bool,
) -> Result<(RecurrentOutput, RecurrentTape)> {
    let (batch, time, input) = x.dims3()?;
    if cfg.layers == 0 || cfg.hidden == 0 || time == 0 {
        bail!("recurrent: layers, hidden size and sequence length must be positive");
    }
    let lens = lengths_of(lengths, batch, time)?;
    let dirs = if cfg.bidirectional { 2 } else { 1 };
    let h_n = cfg.hidden;
    let Some(x_host) = HostF32::of(x) else {
        bail!("recurrent: the fused kernels need a contiguous f32 CPU input");
    };
    let mut layers: Vec<LayerTape> = Vec::with_capacity(cfg.layers);
    let mut below: Option<Vec<f32>> = None;
    let mut finals = (Vec::new(), Vec::new());
    for layer in 0..cfg.layers {
        let in_w = if layer == 0 { input } else { layer_width(cfg) };
        let x_l = match &below {
            Some(v) => v.as_slice(),
            None => x_host.as_slice(),
        };
        let x_m = Mat::new(x_l, batch * time, in_w);
        let results = both(dirs, |d| {
            let params = DirParams::get(p, layer, d)?;
            let sh = lstm::DirShape {
                batch,
                time,
                input: in_w,
                hidden: h_n,
                reverse: d == 1,
            };
            Ok(match cfg.cell {
                Cell::Lstm => {
                    let (out, saved) = lstm::forward(x_m, &lens, &params.weights(), sh, save)?;
                    (out, DirTape::Lstm(saved))
                }
                Cell::Gru => {
                    let (out, saved) = gru::forward(x_m, &lens, &params.weights(), sh, save)?;
                    (out, DirTape::Gru(saved))
                }
            })
        })?;
        let (outs, tapes): (Vec<_>, Vec<_>) = results.into_iter().unzip();
        let merged = merge_rows(
            outs.iter().map(|o| o.seq.as_slice()),
            batch * time,
            h_n,
            cfg.merge,
        );
        finals = (
            merge_rows(outs.iter().map(|o| o.h.as_slice()), batch, h_n, cfg.merge),
            merge_rows(outs.iter().map(|o| o.c.as_slice()), batch, h_n, cfg.merge),
        );
        if save {
            layers.push(LayerTape {
                input: below.take(),
                dirs: tapes,
            });
        }
        below = Some(merged);
    }
    drop(x_host);
    let width = layer_width(cfg);
    let seq = host::tensor(below.unwrap_or_default(), (batch, time, width))?;
    let h = host::tensor(finals.0, (batch, width))?;
    let c = match cfg.cell {
        Cell::Lstm => Some(host::tensor(finals.1, (batch, width))?),
        Cell::Gru => None,
    };
    let tape = RecurrentTape {
        cfg: *cfg,
        batch,
        time,
        input,
        lens,
        x: x.clone(),
        layers,
    };
    Ok((RecurrentOutput { seq, h, c }, tape))
}

/// Width of a layer's merged output.
fn layer_width(cfg: &RecurrentConfig) -> usize {
    match (cfg.bidirectional, cfg.merge) {
        (true, Merge::Concat) => 2 * cfg.hidden,
        _ => cfg.hidden,
    }
}

/// Joins per-direction `[rows, H]` buffers: side by side (`Concat`) or added (`Sum`). Empty inputs (a GRU's
/// cell state) give an empty result.
fn merge_rows<'a>(
    parts: impl Iterator<Item = &'a [f32]>,
    rows: usize,
    h_n: usize,
    merge: Merge,
) -> Vec<f32> {
    let parts: Vec<&[f32]> = parts.collect();
    if parts.iter().any(|p| p.len() != rows * h_n) {
        return Vec::new();
    }
    match (parts.as_slice(), merge) {
        ([one], _) => one.to_vec(),
        ([a, b], Merge::Sum) => a.iter().zip(b.iter()).map(|(x, y)| x + y).collect(),
        (many, _) => {
            let w = many.len() * h_n;
            let mut out = vec![0f32; rows * w];
            for (d, part) in many.iter().enumerate() {
                for r in 0..rows {
                    out[r * w + d * h_n..][..h_n].copy_from_slice(&part[r * h_n..][..h_n]);
                }
            }
            out
        }
    }
}

/// Gradients of the stack's outputs (`None` where an output is unused).
pub struct OutputGrads<'a> {
    pub seq: Option<&'a Tensor>,
    pub h: Option<&'a Tensor>,
    pub c: Option<&'a Tensor>,
}

/// Backpropagation through the whole stack. Returns the input gradient (when `need_dx`) and every parameter's
/// gradient by name (`weight_ih_l0`, ...).
pub fn backward(
    tape: &RecurrentTape,
    p: &RecurrentParams,
    grads: OutputGrads,
    need_dx: bool,
) -> Result<(Option<Tensor>, Vec<(String, Tensor)>)> {
    let cfg = &tape.cfg;
    let (b_n, t_n, h_n) = (tape.batch, tape.time, cfg.hidden);
    let rows = b_n * t_n;
    let dirs = if cfg.bidirectional { 2 } else { 1 };
    let width = layer_width(cfg);
    let dense = |t: Option<&Tensor>, n: usize| -> Result<Option<Vec<f32>>> {
        match t {
            None => Ok(None),
            Some(t) => {
                let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                if v.len() != n {
                    bail!(
                        "recurrent backward: output gradient has {} values, expected {n}",
                        v.len()
                    );
                }
                Ok(Some(v))
            }
        }
    };
    let mut d_y = dense(grads.seq, rows * width)?;
    let d_h_top = dense(grads.h, b_n * width)?;
    let d_c_top = dense(grads.c, b_n * width)?;
    let Some(x_host) = HostF32::of(&tape.x) else {
        bail!("recurrent backward: the input is not a contiguous f32 CPU tensor");
    };
    let mut param_grads = Vec::new();
    let mut d_x_out = None;
    for layer in (0..cfg.layers).rev() {
        let lt = &tape.layers[layer];
        let in_w = if layer == 0 { tape.input } else { width };
        let x_l = lt.input.as_deref().unwrap_or(x_host.as_slice());
        let x_m = Mat::new(x_l, rows, in_w);
        let top = layer + 1 == cfg.layers;
        let want_dx = layer > 0 || need_dx;
        let per_dir = both(dirs, |d| {
            let params = DirParams::get(p, layer, d)?;
            let sh = lstm::DirShape {
                batch: b_n,
                time: t_n,
                input: in_w,
                hidden: h_n,
                reverse: d == 1,
            };
            // This direction's share of the merged gradients: its column block (concat) or all of it (sum).
            let col = if cfg.merge == Merge::Concat {
                d * h_n
            } else {
                0
            };
            let d_seq = d_y
                .as_deref()
                .map(|v| Mat::new(v, rows, width).cols(col, h_n));
            let state = |v: &Option<Vec<f32>>| -> Option<Vec<f32>> {
                let v = v.as_ref().filter(|_| top)?;
                Some(
                    (0..b_n)
                        .flat_map(|b| v[b * width + col..][..h_n].iter().copied())
                        .collect(),
                )
            };
            let (d_h, d_c) = (state(&d_h_top), state(&d_c_top));
            let mut dx = want_dx.then(|| vec![0f32; rows * in_w]);
            let mut dx_m = dx.as_deref_mut().map(|v| MatMut::new(v, rows, in_w));
            let g = match &lt.dirs[d] {
                DirTape::Lstm(saved) => lstm::backward(
                    x_m,
                    &tape.lens,
                    &params.weights(),
                    sh,
                    saved,
                    d_seq,
                    d_h.as_deref(),
                    d_c.as_deref(),
                    dx_m.as_mut(),
                )?,
                DirTape::Gru(saved) => gru::backward(
                    x_m,
                    &tape.lens,
                    &params.weights(),
                    sh,
                    saved,
                    d_seq,
                    d_h.as_deref(),
                    dx_m.as_mut(),
                )?,
            };
            Ok((g, dx))
        })?;
        let mut d_below: Option<Vec<f32>> = None;
        for (d, (g, dx)) in per_dir.into_iter().enumerate() {
            let gn = match cfg.cell {
                Cell::Lstm => 4 * h_n,
                Cell::Gru => 3 * h_n,
            };
            let n = |kind: &str| name(kind, layer, d);
            param_grads.push((n(CellParams::WEIGHT_IH), host::tensor(g.w_ih, (gn, in_w))?));
            param_grads.push((n(CellParams::WEIGHT_HH), host::tensor(g.w_hh, (gn, h_n))?));
            param_grads.push((n(CellParams::BIAS_IH), host::tensor(g.b_ih, gn)?));
            param_grads.push((n(CellParams::BIAS_HH), host::tensor(g.b_hh, gn)?));
            if let Some(dx) = dx {
                d_below = Some(match d_below {
                    None => dx,
                    Some(mut acc) => {
                        acc.iter_mut().zip(&dx).for_each(|(a, v)| *a += v);
                        acc
                    }
                });
            }
        }
        if layer == 0 {
            if need_dx {
                d_x_out = d_below;
            }
        } else {
            d_y = d_below;
        }
    }
    let dx = match d_x_out {
        Some(v) => Some(host::tensor(v, (b_n, t_n, tape.input))?),
        None => None,
    };
    Ok((dx, param_grads))
}
