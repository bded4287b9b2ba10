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
pub fn host_mask(n: usize, seed: u64, p: f64) -> Vec<f32> {
    if p >= 1.0 {
        return vec![0.0; n];
    }
    let keep = (1.0 / (1.0 - p)) as f32;
    let mut out = vec![0f32; n];
    for (i, o) in out.iter_mut().enumerate() {
        *o = keep * f32::from(u8::from(uniform_at(seed, i as u64) >= p));
    }
    out
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
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
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
