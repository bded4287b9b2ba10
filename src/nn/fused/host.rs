//! Zero-copy access to the `f32` data of contiguous CPU tensors, and tensors made from host vectors: the bridge
//! between candle tensors and the fused CPU kernels, which work on plain slices.

use candle_core::{
    backend::BackendStorage, bail, CpuStorage, Device, Layout, Result, Shape, Storage, StorageRef,
    Tensor,
};

/// The borrowed data of a contiguous `f32` CPU tensor (holds the storage's read lock while alive).
pub struct HostF32<'a> {
    guard: StorageRef<'a>,
    start: usize,
    len: usize,
}

impl<'a> HostF32<'a> {
    /// `None` when the tensor is not a contiguous `f32` tensor on the CPU (callers then use a generic path).
    pub fn of(t: &'a Tensor) -> Option<HostF32<'a>> {
        let (guard, layout) = t.storage_and_layout();
        let (start, end) = layout.contiguous_offsets()?;
        match &*guard {
            Storage::Cpu(CpuStorage::F32(v)) if end <= v.len() => {}
            _ => return None,
        }
        Some(HostF32 {
            guard,
            start,
            len: end - start,
        })
    }

    pub fn as_slice(&self) -> &[f32] {
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(v)) => &v[self.start..self.start + self.len],
            // `of` admits only f32 CPU storage, and a storage never changes its kind.
            _ => &[],
        }
    }
}

/// True when the fused CPU kernels can take the tensor as it is.
pub fn is_host_f32(t: &Tensor) -> bool {
    HostF32::of(t).is_some()
}

/// A CPU tensor owning `data` (no copy).
pub fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// The `f32` data of a contiguous CPU operand inside a custom op's `cpu_fwd` (`op` and `what` name it in errors).
pub fn op_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str, what: &str) -> Result<&'a [f32]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{op}: {what} must be contiguous");
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        _ => bail!("{op}: {what} must be f32, got {:?}", s.dtype()),
    }
}
