//! Inverted-dropout masks from a counter-based hash of (seed, element index). On CUDA they are generated on the
//! GPU (`kernels/dropout_mask.cu`) rather than drawn on the host and copied over for every batch; the CPU
//! implementation here is the reference (same formula, so a seed gives the same mask on every device).
//!
//! Every dropout mask of a run comes from here (`nn::dropout`, the compiled backward pass, the fused transformer
//! layer): one seed drawn from the run's `SeededRng` per mask, then a hash per element. A seed gives the same
//! mask on every device, and on the CPU the mask costs a few integer operations per element instead of one
//! ChaCha draw (which made dropout masks 10% of a MulT training step).

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor,
};

/// The mask of `n` elements on the host: 0 with probability `p`, else `1 / (1 - p)` (all 0 for `p >= 1`).
/// Element `i` is kept when `uniform_at(seed, i) >= p`, the formula of [`HashedMask`] and the CUDA kernel.
pub fn host_mask(n: usize, seed: u64, p: f64) -> Vec<f32> {
    // `!(p < 1)` also sends a NaN `p` here: `u >= NaN` is false, so such a mask drops everything either way.
    if !(p < 1.0) {
        return vec![0.0; n];
    }
    let keep = (1.0 / (1.0 - p)) as f32;
    // `u = top53 · 2^-53 >= p` ⟺ `top53 >= p · 2^53` (scaling by a power of two is exact) ⟺
    // `top53 >= ceil(p · 2^53)`, since top53 is an integer: the mask is decided in integers, which vectorise.
    let threshold = if p > 0.0 {
        (p * TWO_POW_53).ceil() as u64
    } else {
        0
    };
    let mut out = vec![0f32; n];
    let threads = crate::nn::fused::gemm::threads();
    if threads > 1 && n >= PARALLEL_MIN {
        use rayon::prelude::*;
        let chunk = n.div_ceil(threads);
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, part)| fill_mask(part, seed, (c * chunk) as u64, threshold, keep));
    } else {
        fill_mask(&mut out, seed, 0, threshold, keep);
    }
    out
}

/// Below this many elements a mask is drawn on one thread (a rayon hand-off costs more than it saves).
const PARALLEL_MIN: usize = 1 << 16;
const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

/// The top 53 bits of splitmix64 of `seed + (i + 1) · golden`: `uniform_at` before its scaling to [0, 1).
#[inline(always)]
fn top53_at(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z >> 11
}

/// Writes the mask of elements `first..first + out.len()`, with the widest vector unit the CPU has (the
/// same integer operations on every path, so the same bits).
fn fill_mask(out: &mut [f32], seed: u64, first: u64, threshold: u64, keep: f32) {
    #[inline(always)]
    fn lanes(out: &mut [f32], seed: u64, first: u64, threshold: u64, keep: f32) {
        for (j, o) in out.iter_mut().enumerate() {
            let kept = top53_at(seed, first + j as u64) >= threshold;
            *o = if kept { keep } else { 0.0 };
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        unsafe fn wide(out: &mut [f32], seed: u64, first: u64, threshold: u64, keep: f32) {
            lanes(out, seed, first, threshold, keep)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(out: &mut [f32], seed: u64, first: u64, threshold: u64, keep: f32) {
            lanes(out, seed, first, threshold, keep)
        }
        if crate::nn::fused::vmath::has_avx512() && std::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU supports the target features the function was compiled for.
            return unsafe { wide(out, seed, first, threshold, keep) };
        }
        if crate::nn::fused::vmath::has_avx2_fma() {
            // SAFETY: as above.
            return unsafe { avx2(out, seed, first, threshold, keep) };
        }
    }
    lanes(out, seed, first, threshold, keep)
}

/// A dropout mask for `x` from one seed of `rng`, on `x`'s device and in its dtype.
pub fn mask_for(x: &Tensor, p: f64, rng: &mut crate::rng::SeededRng) -> Result<Tensor> {
    let seed = rng.next_u64();
    if p >= 1.0 {
        return x.zeros_like();
    }
    if x.device().is_cpu() {
        let m = Tensor::from_vec(host_mask(x.elem_count(), seed, p), x.shape(), x.device())?;
        return if x.dtype() == DType::F32 {
            Ok(m)
        } else {
            m.to_dtype(x.dtype())
        };
    }
    hashed_mask(x, seed, p)
}

/// A mask shaped and typed like `like`: 0 with probability `p`, else `1 / (1 - p)`; `p` in [0, 1).
pub fn hashed_mask(like: &Tensor, seed: u64, p: f64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        candle_core::bail!("dropout mask: p must be in [0, 1), got {p}");
    }
    like.apply_op1_no_bwd(&HashedMask { seed, p })
}

struct HashedMask {
    seed: u64,
    p: f64,
}

/// Uniform in [0, 1) for element `i`: splitmix64 of `seed + (i + 1) * golden`, top 53 bits.
#[inline(always)]
fn uniform_at(seed: u64, i: u64) -> f64 {
    top53_at(seed, i) as f64 * (1.0 / TWO_POW_53)
}

impl HashedMask {
    fn values(&self, n: usize) -> Vec<f64> {
        let keep = 1.0 / (1.0 - self.p);
        (0..n as u64)
            .map(|i| {
                if uniform_at(self.seed, i) < self.p {
                    0.0
                } else {
                    keep
                }
            })
            .collect()
    }
}

impl CustomOp1 for HashedMask {
    fn name(&self) -> &'static str {
        "hashed-dropout-mask"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = layout.shape().clone();
        let v = self.values(shape.elem_count());
        let out = match storage.dtype() {
            DType::F32 => CpuStorage::F32(v.iter().map(|x| *x as f32).collect()),
            DType::F64 => CpuStorage::F64(v),
            DType::BF16 => CpuStorage::BF16(v.iter().map(|x| half::bf16::from_f64(*x)).collect()),
            DType::F16 => CpuStorage::F16(v.iter().map(|x| half::f16::from_f64(*x)).collect()),
            other => candle_core::bail!("dropout mask: unsupported dtype {other:?}"),
        };
        Ok((out, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let shape = layout.shape().clone();
        let dev = &storage.device;
        let n = shape.elem_count();
        let out = match storage.dtype() {
            DType::F32 => cuda::launch::<f32>(dev, self, n, "f32")?,
            DType::F64 => cuda::launch::<f64>(dev, self, n, "f64")?,
            DType::BF16 => cuda::launch::<half::bf16>(dev, self, n, "bf16")?,
            DType::F16 => cuda::launch::<half::f16>(dev, self, n, "f16")?,
            other => candle_core::bail!("dropout mask: unsupported dtype {other:?}"),
        };
        Ok((out, shape))
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
    use candle_core::cuda_backend::{CudaDType, WrapErr};
    use candle_core::{CudaDevice, CudaStorage, Result};

    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/dropout_mask.ptx"));

    pub(super) fn launch<T: CudaDType + DeviceRepr>(
        dev: &CudaDevice,
        mask: &super::HashedMask,
        n: usize,
        suffix: &str,
    ) -> Result<CudaStorage> {
        let func = dev.get_or_load_custom_func(
            &format!("dropout_mask_{suffix}"),
            "fusec_dropout_mask",
            PTX,
        )?;
        // SAFETY: the kernel writes every element.
        let out = unsafe { dev.alloc::<T>(n) }?;
        let (seed, count, p, keep) = (mask.seed, n as u64, mask.p, 1.0 / (1.0 - mask.p));
        let mut builder = func.builder();
        builder.arg(&out);
        builder.arg(&seed);
        builder.arg(&count);
        builder.arg(&p);
        builder.arg(&keep);
        // SAFETY: the arguments match `dropout_mask_*(T* out, u64 seed, u64 n, double p, double keep)`.
        unsafe { builder.launch(LaunchConfig::for_num_elems(n as u32)) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the formula as written in the CUDA kernel, one f64 comparison per element.
    fn reference(n: usize, seed: u64, p: f64) -> Vec<f32> {
        let keep = (1.0 / (1.0 - p)) as f32;
        (0..n as u64)
            .map(|i| keep * f32::from(u8::from(uniform_at(seed, i) >= p)))
            .collect()
    }

    #[test]
    fn integer_threshold_gives_the_reference_mask() {
        // Dyadic and non-dyadic rates, rates next to 0 and 1, lengths with vector tails.
        for &p in &[0.0, 1e-12, 0.1, 0.25, 0.3, 0.5, 1.0 / 3.0, 0.999_999] {
            for &n in &[0, 1, 7, 17, 1000, 4099] {
                for seed in [0, 1, u64::MAX, 0x1234_5678_9ABC_DEF0] {
                    assert_eq!(host_mask(n, seed, p), reference(n, seed, p), "p {p} n {n}");
                }
            }
        }
        assert!(host_mask(10, 3, 1.0).iter().all(|&v| v == 0.0));
        assert!(host_mask(10, 3, f64::NAN).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_mask_at_the_threshold_boundary_matches() {
        // Thresholds that fall exactly on an integer and just beside it.
        for k in [1u64, 2, 3, 1 << 20, (1 << 53) - 1] {
            let p = k as f64 / TWO_POW_53;
            assert_eq!(host_mask(3000, 42, p), reference(3000, 42, p), "k {k}");
        }
    }

    #[test]
    fn large_masks_split_across_threads_equal_one_thread() {
        // `fill_mask` over pieces (as the rayon path runs it) equals one pass.
        let (n, seed, p) = (PARALLEL_MIN + 123, 9, 0.2);
        let threshold = (p * TWO_POW_53).ceil() as u64;
        let mut pieces = vec![0f32; n];
        for (c, part) in pieces.chunks_mut(1000).enumerate() {
            fill_mask(part, seed, (c * 1000) as u64, threshold, 1.25);
        }
        assert_eq!(pieces, reference(n, seed, p));
    }
}
