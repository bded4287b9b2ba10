//! Inverted-dropout masks from a counter-based hash of (seed, element index). On CUDA they are generated on the
//! GPU (`kernels/dropout_mask.cu`) rather than drawn on the host and copied over for every batch; the CPU
//! implementation here is the reference (same formula, so a seed gives the same mask on every device).
//!
//! `nn::dropout` uses it on CUDA only: on the CPU it keeps drawing masks element by element from `SeededRng`, so
//! CPU runs are exactly what they were; a CUDA run draws one seed per mask from the same generator, so it is
//! reproducible too (but its masks differ from a CPU run's).

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor,
};

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
