//! The pointwise gate math of one LSTM or GRU time step as single fused ops, forward and backward: one kernel
//! launch per step on CUDA (`kernels/recurrent_gates.cu`, PTX built by build.rs with the `cuda` feature) instead
//! of a dozen element-wise ops, and a CPU reference implementation of exactly the same formulas.
//!
//! The matrix products stay outside (they are cuBLAS's job): the caller computes the gate pre-activations and
//! hands them in. Masking past sequence lengths also stays outside (a `where_cond` on the results).
//!
//! Formulas (PyTorch's gate order):
//! - LSTM, `gates = x W_ih^T + b_ih + h W_hh^T + b_hh` split i, f, g, o:
//!   `c = σ(f) c_prev + σ(i) tanh(g)`, `h = σ(o) tanh(c)`.
//! - GRU, `gx = x W_ih^T + b_ih` and `gh = h W_hh^T + b_hh`, each split r, z, n:
//!   `r = σ(gx_r + gh_r)`, `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r gh_n)`, `h = n + z (h_prev - n)`.
//!
//! The backward ops recompute the activations from the saved inputs rather than storing them. The CUDA kernels
//! compute in f32 (f64 for f64 operands); on the CPU the LSTM kernels on f32 compute in f32 with the vectorised
//! functions of `nn::fused::vmath`, everything else in f64 rounded once to the operands' dtype (the reference).
//! Both take f32, f64, bf16 and f16.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape,
    Tensor, WithDType,
};

/// One LSTM step's pointwise part: `gates [B, 4H]` (pre-activations i, f, g, o) and `c_prev [B, H]` ->
/// `(h [B, H], c [B, H])`. Differentiable in both inputs.
pub fn lstm_cell(gates: &Tensor, c_prev: &Tensor) -> Result<(Tensor, Tensor)> {
    let (rows, hidden) = c_prev.dims2()?;
    if gates.dims() != [rows, 4 * hidden] {
        candle_core::bail!(
            "lstm_cell: gates must be [{rows}, {}], got {:?}",
            4 * hidden,
            gates.dims()
        );
    }
    let out = gates
        .contiguous()?
        .apply_op2(&c_prev.contiguous()?, LstmGates)?; // [B, 2H] = [h | c]
    Ok((out.narrow(1, 0, hidden)?, out.narrow(1, hidden, hidden)?))
}

/// One GRU step's pointwise part: `gx [B, 3H]` (input projection with `b_ih`), `gh [B, 3H]` (hidden projection
/// with `b_hh`) and `h_prev [B, H]` -> `h [B, H]`. Differentiable in all three inputs.
pub fn gru_cell(gx: &Tensor, gh: &Tensor, h_prev: &Tensor) -> Result<Tensor> {
    let (rows, hidden) = h_prev.dims2()?;
    for (name, t) in [("gx", gx), ("gh", gh)] {
        if t.dims() != [rows, 3 * hidden] {
            candle_core::bail!(
                "gru_cell: {name} must be [{rows}, {}], got {:?}",
                3 * hidden,
                t.dims()
            );
        }
    }
    gx.contiguous()?
        .apply_op3(&gh.contiguous()?, &h_prev.contiguous()?, GruGates)
}

/// Which of the four kernels of `recurrent_gates.cu` an op is; `width` is its output's row width in units of H.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GateKernel {
    LstmForward,
    LstmBackward,
    GruForward,
    GruBackward,
}

impl GateKernel {
    pub(crate) fn width(self) -> usize {
        match self {
            GateKernel::LstmForward => 2,
            GateKernel::LstmBackward => 5,
            GateKernel::GruForward => 1,
            GateKernel::GruBackward => 7,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            GateKernel::LstmForward => "lstm_gates_fwd",
            GateKernel::LstmBackward => "lstm_gates_bwd",
            GateKernel::GruForward => "gru_gates_fwd",
            GateKernel::GruBackward => "gru_gates_bwd",
        }
    }

    /// The hidden size: the last operand's width is H (LSTM forward, GRU forward) or 2H (the backward ops take
    /// `[dh | dc]` or `[h_prev | dh]`) — the second operand of the LSTM ops is `c_prev [B, H]`.
    fn hidden(self, layouts: &[&Layout]) -> Result<(usize, usize)> {
        let (rows, w) = layouts[1].shape().dims2()?;
        let hidden = match self {
            GateKernel::LstmForward | GateKernel::LstmBackward => w,
            GateKernel::GruForward => layouts[2].shape().dims2()?.1,
            GateKernel::GruBackward => layouts[2].shape().dims2()?.1 / 2,
        };
        Ok((rows, hidden))
    }
}

/// Checks that every operand is contiguous and returns `(rows, hidden, start offsets)`.
pub(crate) fn operands(
    kernel: GateKernel,
    layouts: &[&Layout],
) -> Result<(usize, usize, Vec<usize>)> {
    let (rows, hidden) = kernel.hidden(layouts)?;
    let mut starts = Vec::with_capacity(layouts.len());
    for l in layouts {
        match l.contiguous_offsets() {
            Some((start, _)) => starts.push(start),
            None => candle_core::bail!("{}: operands must be contiguous", kernel.name()),
        }
    }
    Ok((rows, hidden, starts))
}

struct LstmGates;
struct LstmGatesBackward;
struct GruGates;
struct GruGatesBackward;

impl CustomOp2 for LstmGates {
    fn name(&self) -> &'static str {
        "lstm-gates"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_run(GateKernel::LstmForward, &[s1, s2], &[l1, l2])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::fused_gates_cuda::launch(GateKernel::LstmForward, &[s1, s2], &[l1, l2])
    }

    fn bwd(
        &self,
        gates: &Tensor,
        c_prev: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let hidden = c_prev.dim(1)?;
        let d = gates.apply_op3_no_bwd(c_prev, &grad.contiguous()?, &LstmGatesBackward)?;
        Ok((
            Some(d.narrow(1, 0, 4 * hidden)?),
            Some(d.narrow(1, 4 * hidden, hidden)?),
        ))
    }
}

impl CustomOp3 for LstmGatesBackward {
    fn name(&self) -> &'static str {
        "lstm-gates-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_run(GateKernel::LstmBackward, &[s1, s2, s3], &[l1, l2, l3])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let kernel = GateKernel::LstmBackward;
        super::fused_gates_cuda::launch(kernel, &[s1, s2, s3], &[l1, l2, l3])
    }
}

impl CustomOp3 for GruGates {
    fn name(&self) -> &'static str {
        "gru-gates"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_run(GateKernel::GruForward, &[s1, s2, s3], &[l1, l2, l3])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let kernel = GateKernel::GruForward;
        super::fused_gates_cuda::launch(kernel, &[s1, s2, s3], &[l1, l2, l3])
    }

    fn bwd(
        &self,
        gx: &Tensor,
        gh: &Tensor,
        h_prev: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let hidden = h_prev.dim(1)?;
        let hd = Tensor::cat(&[h_prev, grad], 1)?; // [B, 2H] = [h_prev | dh]
        let d = gx.apply_op3_no_bwd(gh, &hd, &GruGatesBackward)?;
        Ok((
            Some(d.narrow(1, 0, 3 * hidden)?),
            Some(d.narrow(1, 3 * hidden, 3 * hidden)?),
            Some(d.narrow(1, 6 * hidden, hidden)?),
        ))
    }
}

impl CustomOp3 for GruGatesBackward {
    fn name(&self) -> &'static str {
        "gru-gates-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_run(GateKernel::GruBackward, &[s1, s2, s3], &[l1, l2, l3])
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let kernel = GateKernel::GruBackward;
        super::fused_gates_cuda::launch(kernel, &[s1, s2, s3], &[l1, l2, l3])
    }
}

/// The CPU reference: the operands' values as f64 (exact for every float dtype), the formulas in
/// [`gate_rows`], and the result rounded once to the operands' dtype.
fn cpu_run(
    kernel: GateKernel,
    storages: &[&CpuStorage],
    layouts: &[&Layout],
) -> Result<(CpuStorage, Shape)> {
    let (rows, hidden, starts) = operands(kernel, layouts)?;
    let dtype = storages[0].dtype();
    if storages.iter().any(|s| s.dtype() != dtype) {
        candle_core::bail!("{}: operands must share a dtype", kernel.name());
    }
    if let Some(out) = lstm_f32(kernel, storages, layouts, &starts, rows, hidden) {
        return Ok((
            CpuStorage::F32(out),
            Shape::from((rows, kernel.width() * hidden)),
        ));
    }
    let values: Vec<Vec<f64>> = storages
        .iter()
        .zip(layouts)
        .zip(&starts)
        .map(|((s, l), start)| to_f64(s, *start, l.shape().elem_count()))
        .collect::<Result<_>>()?;
    let slices: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
    let out = gate_rows(kernel, &slices, rows, hidden);
    let shape = Shape::from((rows, kernel.width() * hidden));
    let storage = match dtype {
        DType::F32 => CpuStorage::F32(from_f64(&out)),
        DType::F64 => CpuStorage::F64(out),
        DType::BF16 => CpuStorage::BF16(from_f64(&out)),
        DType::F16 => CpuStorage::F16(from_f64(&out)),
        other => candle_core::bail!("{}: unsupported dtype {other:?}", kernel.name()),
    };
    Ok((storage, shape))
}

/// The LSTM kernels on f32 operands in f32 with the vectorised functions of `nn::fused::vmath` (the attention
/// decoder runs one per target step in training and decoding, where the f64 reference's libm calls dominated).
/// `None` for other kernels and dtypes, which take the f64 reference.
fn lstm_f32(
    kernel: GateKernel,
    storages: &[&CpuStorage],
    layouts: &[&Layout],
    starts: &[usize],
    rows: usize,
    h: usize,
) -> Option<Vec<f32>> {
    use super::fused::vmath;
    if !matches!(kernel, GateKernel::LstmForward | GateKernel::LstmBackward) {
        return None;
    }
    let mut ops = Vec::with_capacity(storages.len());
    for ((s, l), start) in storages.iter().zip(layouts).zip(starts) {
        let CpuStorage::F32(v) = s else {
            return None;
        };
        ops.push(v.get(*start..start + l.shape().elem_count())?);
    }
    let width = kernel.width() * h;
    let mut out = vec![0f32; rows * width];
    let mut act = vec![0f32; 4 * h];
    let mut tc = vec![0f32; h];
    for r in 0..rows {
        act.copy_from_slice(&ops[0][r * 4 * h..(r + 1) * 4 * h]);
        vmath::sigmoid_in_place(&mut act[..2 * h]);
        vmath::tanh_in_place(&mut act[2 * h..3 * h]);
        vmath::sigmoid_in_place(&mut act[3 * h..]);
        let (i, rest) = act.split_at(h);
        let (f, rest) = rest.split_at(h);
        let (c_in, og) = rest.split_at(h);
        let cp = &ops[1][r * h..(r + 1) * h];
        for j in 0..h {
            tc[j] = f[j] * cp[j] + i[j] * c_in[j];
        }
        let o = &mut out[r * width..(r + 1) * width];
        if kernel == GateKernel::LstmForward {
            o[h..2 * h].copy_from_slice(&tc);
            vmath::tanh_in_place(&mut tc);
            for j in 0..h {
                o[j] = og[j] * tc[j];
            }
            continue;
        }
        vmath::tanh_in_place(&mut tc);
        // The fused layer's gate gradients: `o` is `[d gates | d c_prev]`, and d c_prev starts as d c.
        let (dh, dc_out) = ops[2][r * 2 * h..(r + 1) * 2 * h].split_at(h);
        let (d_gates, d_c) = o.split_at_mut(4 * h);
        d_c.copy_from_slice(dc_out);
        super::fused::lstm::gate_grads(&act, &tc, cp, dh, d_c, d_gates);
    }
    Some(out)
}

fn to_f64(s: &CpuStorage, start: usize, n: usize) -> Result<Vec<f64>> {
    fn take<T: WithDType>(v: &[T], start: usize, n: usize) -> Vec<f64> {
        v[start..start + n].iter().map(|x| x.to_f64()).collect()
    }
    Ok(match s {
        CpuStorage::F32(v) => take(v, start, n),
        CpuStorage::F64(v) => take(v, start, n),
        CpuStorage::BF16(v) => take(v, start, n),
        CpuStorage::F16(v) => take(v, start, n),
        other => candle_core::bail!("fused gates: unsupported dtype {:?}", other.dtype()),
    })
}

fn from_f64<T: WithDType>(v: &[f64]) -> Vec<T> {
    v.iter().map(|x| T::from_f64(*x)).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The formulas of `recurrent_gates.cu`, row by row, unit by unit (see the module docs; the backward rows are
/// `[d gates | d c_prev]` for the LSTM and `[d gx | d gh | d h_prev]` for the GRU).
fn gate_rows(kernel: GateKernel, ops: &[&[f64]], rows: usize, hidden: usize) -> Vec<f64> {
    let h = hidden;
    let width = kernel.width() * h;
    let mut out = vec![0.0; rows * width];
    for r in 0..rows {
        let o = &mut out[r * width..(r + 1) * width];
        for j in 0..h {
            match kernel {
                GateKernel::LstmForward | GateKernel::LstmBackward => {
                    let g = &ops[0][r * 4 * h..(r + 1) * 4 * h];
                    let (i, f) = (sigmoid(g[j]), sigmoid(g[h + j]));
                    let (c_in, og) = (g[2 * h + j].tanh(), sigmoid(g[3 * h + j]));
                    let cp = ops[1][r * h + j];
                    let c = f * cp + i * c_in;
                    let tc = c.tanh();
                    if kernel == GateKernel::LstmForward {
                        o[j] = og * tc;
                        o[h + j] = c;
                        continue;
                    }
                    let (dh, dc_out) = (ops[2][r * 2 * h + j], ops[2][r * 2 * h + h + j]);
                    let dc = dc_out + dh * og * (1.0 - tc * tc);
                    o[j] = dc * c_in * i * (1.0 - i);
                    o[h + j] = dc * cp * f * (1.0 - f);
                    o[2 * h + j] = dc * i * (1.0 - c_in * c_in);
                    o[3 * h + j] = dh * tc * og * (1.0 - og);
                    o[4 * h + j] = dc * f;
                }
                GateKernel::GruForward | GateKernel::GruBackward => {
                    let (gx, gh) = (&ops[0][r * 3 * h..], &ops[1][r * 3 * h..]);
                    let rg = sigmoid(gx[j] + gh[j]);
                    let z = sigmoid(gx[h + j] + gh[h + j]);
                    let n = (gx[2 * h + j] + rg * gh[2 * h + j]).tanh();
                    if kernel == GateKernel::GruForward {
                        o[j] = n + z * (ops[2][r * h + j] - n);
                        continue;
                    }
                    let (hp, dh) = (ops[2][r * 2 * h + j], ops[2][r * 2 * h + h + j]);
                    let dn = dh * (1.0 - z) * (1.0 - n * n);
                    let dz = dh * (hp - n) * z * (1.0 - z);
                    let dr = dn * gh[2 * h + j] * rg * (1.0 - rg);
                    o[j] = dr;
                    o[h + j] = dz;
                    o[2 * h + j] = dn;
                    o[3 * h + j] = dr;
                    o[4 * h + j] = dz;
                    o[5 * h + j] = dn * rg;
                    o[6 * h + j] = dh * z;
                }
            }
        }
    }
    out
}
