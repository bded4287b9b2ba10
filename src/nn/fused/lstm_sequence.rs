//! An LSTM recurrence over precomputed gate pre-activations, from a given initial state, as one candle op with a
//! hand-written backward pass: the attention decoder's teacher-forced recurrence (`nn::decoder`).
//!
//! Run step by step under candle's autograd, that recurrence cost a product, an add, a gate op and a dozen
//! autograd nodes per target position, and its backward padded every step's slice of the gate gradient back to
//! the full `[B, T, 4H]` before adding it up (quadratic in T): half the translation model's training step. Here
//! the forward pass is [`lstm::recur`] (one accumulating product per step into the gate buffer, vectorised gate
//! math) and the backward pass [`lstm::recur_backward`] (BPTT with one product per step), plus one product over
//! all steps for the recurrent weight gradient. Same formulas as the per-step path, which stays the reference
//! (tests compare the two) and the path for other devices and dtypes.

use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::gemm::{gemm, Mat, MatMut};
use super::host::{self, HostF32};
use super::lstm::{self, DirShape, InitState, LstmSaved};
use super::scratch;

/// True when [`lstm_sequence`] applies: every operand an `f32` CPU tensor.
pub fn supported(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> bool {
    [gx, h0, c0, w_hh]
        .into_iter()
        .all(|t| t.device().is_cpu() && t.dtype() == candle_core::DType::F32)
}

/// `gx [B, T, 4H]` (the input projection of every step with both biases, PyTorch gate order i, f, g, o), the
/// initial state `h0`, `c0 [B, H]` and `w_hh [4H, H]` -> the hidden state of every step `[B, T, H]`.
/// Differentiable in all four.
pub fn lstm_sequence(gx: &Tensor, h0: &Tensor, c0: &Tensor, w_hh: &Tensor) -> Result<Tensor> {
    let (batch, time, four_h) = gx.dims3()?;
    let hidden = four_h / 4;
    if four_h % 4 != 0 || h0.dims() != [batch, hidden] || c0.dims() != [batch, hidden] {
        bail!(
            "lstm_sequence: gx {:?}, h0 {:?}, c0 {:?} do not agree",
            gx.dims(),
            h0.dims(),
            c0.dims()
        );
    }
    if w_hh.dims() != [four_h, hidden] {
        bail!(
            "lstm_sequence: w_hh must be [{four_h}, {hidden}], got {:?}",
            w_hh.dims()
        );
    }
    // One operand for the state keeps the op at three inputs (candle's largest custom op).
    let state0 = Tensor::cat(&[h0, c0], 1)?;
    let save = [gx, &state0, w_hh].iter().any(|t| t.track_op());
    let op = LstmSequence {
        shape: DirShape {
            batch,
            time,
            input: 0,
            hidden,
            reverse: false,
        },
        saved: Mutex::new(None),
        save,
    };
    gx.contiguous()?.apply_op3(&state0, &w_hh.contiguous()?, op)
}

struct LstmSequence {
    shape: DirShape,
    /// What the backward pass needs, kept by the forward pass (only when some operand is differentiated).
    saved: Mutex<Option<LstmSaved>>,
    save: bool,
}

/// The `f32` data of a contiguous CPU operand.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    host::op_slice(s, l, "lstm_sequence", what)
}

impl CustomOp3 for LstmSequence {
    fn name(&self) -> &'static str {
        "lstm-sequence"
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
        let sh = self.shape;
        let (b_n, h_n) = (sh.batch, sh.hidden);
        let gx = slice(s1, l1, "gx")?;
        let state0 = slice(s2, l2, "state0")?;
        let w_hh = slice(s3, l3, "w_hh")?;
        let mut gates = scratch::zeroed(gx.len());
        gates.copy_from_slice(gx);
        // state0 is [B, 2H] = [h0 | c0]: split it into the two [B, H] states.
        let mut h0 = Vec::with_capacity(b_n * h_n);
        let mut c0 = Vec::with_capacity(b_n * h_n);
        for row in state0.chunks_exact(2 * h_n) {
            h0.extend_from_slice(&row[..h_n]);
            c0.extend_from_slice(&row[h_n..]);
        }
        let lens = vec![sh.time; b_n];
        let init = InitState { h: &h0, c: &c0 };
        let (out, saved) = lstm::recur(gates, Some(init), &lens, w_hh, sh, self.save)?;
        if self.save {
            if let Ok(mut slot) = self.saved.lock() {
                *slot = Some(saved);
            }
        }
        Ok((
            CpuStorage::F32(out.seq),
            Shape::from((sh.batch, sh.time, sh.hidden)),
        ))
    }

    fn bwd(
        &self,
        _gx: &Tensor,
        _state0: &Tensor,
        w_hh: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let sh = self.shape;
        let (b_n, t_n, h_n) = (sh.batch, sh.time, sh.hidden);
        let g_n = 4 * h_n;
        let slot = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("lstm_sequence: poisoned tape".into()))?;
        let Some(saved) = slot.as_ref() else {
            bail!("internal: lstm_sequence backward without a saved forward pass");
        };
        let grad = grad.contiguous()?;
        let (Some(d_seq), Some(w)) = (HostF32::of(&grad), HostF32::of(w_hh)) else {
            bail!("lstm_sequence: backward operands must be contiguous f32 CPU tensors");
        };
        let lens = vec![t_n; b_n];
        let d_seq = Mat::new(d_seq.as_slice(), b_n * t_n, h_n);
        let back = lstm::recur_backward(
            &lens,
            w.as_slice(),
            sh,
            saved,
            Some(d_seq),
            None,
            None,
            true,
        )?;
        // dW_hh = Σ_t dG_tᵀ h_{t-1}: one product over every step.
        let mut d_w_hh = vec![0f32; g_n * h_n];
        gemm(
            &mut MatMut::new(&mut d_w_hh, g_n, h_n),
            false,
            Mat::new(&back.dg, b_n * t_n, g_n).t(),
            Mat::new(&saved.prev_h, b_n * t_n, h_n),
            1.0,
            true,
        )?;
        let mut d_state0 = Vec::with_capacity(b_n * 2 * h_n);
        for b in 0..b_n {
            d_state0.extend_from_slice(&back.d_h0[b * h_n..][..h_n]);
            d_state0.extend_from_slice(&back.d_c0[b * h_n..][..h_n]);
        }
        // The gate gradient leaves as the gx gradient (not back to the pool: the tensor owns it now).
        let d_gx = host::tensor(back.dg, (b_n, t_n, g_n))?;
        Ok((
            Some(d_gx),
            Some(host::tensor(d_state0, (b_n, 2 * h_n))?),
            Some(host::tensor(d_w_hh, (g_n, h_n))?),
        ))
    }
}
