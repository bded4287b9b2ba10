//! 1-D and 2-D convolutions as unfold (index_select) + one matmul. candle's own conv1d backward pass is wrong
//! for batch > 1, and index_select / matmul / cat all have exact backward passes.

use candle_core::{Device, Result, Tensor};

/// Cross-correlation over time, PyTorch's `Conv1d` on a time-major input (as MulT applies it after transposing).
///
/// # Shapes
/// `x [B, T, C]`, `w [O, C, K]`, `b [O]` -> `[B, T', O]`, `T' = (T + 2*padding - K) / stride + 1`.
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (batch, time, channels) = x.dims3()?;
    let (out, w_channels, kernel) = w.dims3()?;
    if w_channels != channels {
        candle_core::bail!(
            "conv1d: input has {channels} channels but the weight expects {w_channels}"
        );
    }
    let steps = out_len(time, kernel, stride, padding, "conv1d")?;
    let padded = x.pad_with_zeros(1, padding, padding)?; // [B, T + 2p, C]
    let idx = window_indices(steps, kernel, stride, x.device())?;
    // [B, T' * K, C] -> [B * T', K * C]: row (b, t') holds the window, kernel-major then channel.
    let cols = padded
        .index_select(&idx, 1)?
        .reshape((batch * steps, kernel * channels))?;
    // Weight [O, C, K] -> [O, K, C] -> [O, K * C], the same order as a window row.
    let w_flat = w.permute((0, 2, 1))?.reshape((out, kernel * channels))?;
    let y = cols.matmul(&w_flat.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    y.reshape((batch, steps, out))
}

/// Cross-correlation over height and width with a square kernel, PyTorch's `Conv2d`.
///
/// # Shapes
/// `x [B, C, H, W]`, `w [O, C, K, K]`, `b [O]` -> `[B, O, H', W']`, `H' = (H + 2*padding - K) / stride + 1`
/// (likewise `W'`).
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (batch, channels, height, width) = x.dims4()?;
    let (out, w_channels, kh, kw) = w.dims4()?;
    if w_channels != channels || kh != kw {
        candle_core::bail!(
            "conv2d: weight {:?} does not fit an input with {channels} channels (square kernel expected)",
            w.dims()
        );
    }
    let rows = out_len(height, kh, stride, padding, "conv2d")?;
    let cols = out_len(width, kw, stride, padding, "conv2d")?;
    let padded = x
        .pad_with_zeros(2, padding, padding)?
        .pad_with_zeros(3, padding, padding)?;
    let wp = width + 2 * padding;
    let row_idx = window_indices(rows, kh, stride, x.device())?;
    let col_idx = window_indices(cols, kw, stride, x.device())?;
    // [B, C, H' * K, Wp] -> [B, C, H', K, W' * K] -> [B, C, H', K, W', K]
    let unfolded = padded
        .index_select(&row_idx, 2)?
        .reshape((batch, channels, rows, kh, wp))?
        .index_select(&col_idx, 4)?
        .reshape((batch, channels, rows, kh, cols, kw))?;
    // -> [B, H', W', C, K, K] -> [B * H' * W', C * K * K], the order of a flattened weight row.
    let patches = unfolded
        .permute((0, 2, 4, 1, 3, 5))?
        .reshape((batch * rows * cols, channels * kh * kw))?;
    let w_flat = w.reshape((out, channels * kh * kw))?;
    let y = patches.matmul(&w_flat.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    // [B * H' * W', O] -> [B, H', W', O] -> [B, O, H', W']
    y.reshape((batch, rows, cols, out))?
        .permute((0, 3, 1, 2))?
        .contiguous()
}

/// Output length of a strided, padded window over `len` positions.
fn out_len(len: usize, kernel: usize, stride: usize, padding: usize, op: &str) -> Result<usize> {
    if stride == 0 || kernel == 0 {
        candle_core::bail!("{op}: kernel and stride must be positive");
    }
    let span = len + 2 * padding;
    if span < kernel {
        candle_core::bail!("{op}: kernel {kernel} is longer than the padded input ({span})");
    }
    Ok((span - kernel) / stride + 1)
}

/// Indices `t * stride + k` for every output position `t` and kernel offset `k`, position-major.
fn window_indices(steps: usize, kernel: usize, stride: usize, device: &Device) -> Result<Tensor> {
    let idx: Vec<u32> = (0..steps)
        .flat_map(|t| (0..kernel).map(move |k| (t * stride + k) as u32))
        .collect();
    Tensor::from_vec(idx, steps * kernel, device)
}
