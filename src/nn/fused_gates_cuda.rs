//! Launches the fused gate kernels of `kernels/recurrent_gates.cu` (compiled to PTX by build.rs with the `cuda`
//! feature, with the same nvcc as candle's own kernels) on the operands' device and stream.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::{CudaStorage, DType, Layout, Result, Shape};

use super::fused_gates::{operands, GateKernel};

/// The PTX module of `kernels/recurrent_gates.cu`.
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/recurrent_gates.ptx"));
const MODULE: &str = "fusec_recurrent_gates";

/// Runs `kernel` over `[rows, H]` threads and returns its `[rows, width * H]` output.
pub(crate) fn launch(
    kernel: GateKernel,
    storages: &[&CudaStorage],
    layouts: &[&Layout],
) -> Result<(CudaStorage, Shape)> {
    let (rows, hidden, starts) = operands(kernel, layouts)?;
    let storage = match storages[0].dtype() {
        DType::F32 => typed::<f32>(kernel, storages, layouts, &starts, rows, hidden, "f32")?,
        DType::F64 => typed::<f64>(kernel, storages, layouts, &starts, rows, hidden, "f64")?,
        DType::BF16 => {
            typed::<half::bf16>(kernel, storages, layouts, &starts, rows, hidden, "bf16")?
        }
        DType::F16 => typed::<half::f16>(kernel, storages, layouts, &starts, rows, hidden, "f16")?,
        other => candle_core::bail!("{}: unsupported dtype {other:?}", kernel.name()),
    };
    Ok((storage, Shape::from((rows, kernel.width() * hidden))))
}

fn typed<T: CudaDType + DeviceRepr>(
    kernel: GateKernel,
    storages: &[&CudaStorage],
    layouts: &[&Layout],
    starts: &[usize],
    rows: usize,
    hidden: usize,
    suffix: &str,
) -> Result<CudaStorage> {
    let dev = &storages[0].device;
    let func = dev.get_or_load_custom_func(&format!("{}_{suffix}", kernel.name()), MODULE, PTX)?;
    let mut inputs = Vec::with_capacity(storages.len());
    for ((s, l), start) in storages.iter().zip(layouts).zip(starts) {
        let slice: &CudaSlice<T> = s.as_cuda_slice::<T>()?;
        inputs.push(slice.slice(*start..*start + l.shape().elem_count()));
    }
    let n = rows * hidden;
    // SAFETY: every element is written by the kernel before anyone reads it.
    let out = unsafe { dev.alloc::<T>(n * kernel.width()) }?;
    let (rows, hidden) = (rows as u32, hidden as u32);
    let mut builder = func.builder();
    for input in &inputs {
        builder.arg(input);
    }
    builder.arg(&out);
    builder.arg(&rows);
    builder.arg(&hidden);
    // SAFETY: the argument list matches the kernel's signature (operands, output, rows, hidden).
    unsafe { builder.launch(LaunchConfig::for_num_elems(n as u32)) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
}
