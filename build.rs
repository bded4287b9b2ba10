//! With the `cuda` feature: compiles `kernels/*.cu` to PTX in OUT_DIR (`recurrent_gates.ptx`, loaded by
//! `src/nn/fused_gates_cuda.rs`) with the nvcc that candle's own kernels use (cudaforge finds it on PATH or from
//! CUDA_HOME; scripts/cuda-env.sh sets both, and CUDA_COMPUTE_CAP). Without it, nothing to do.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    cuda::build_ptx();
}

#[cfg(feature = "cuda")]
mod cuda {
    pub fn build_ptx() {
        println!("cargo:rerun-if-changed=kernels");
        let built = cudaforge::KernelBuilder::new()
            .source_dir("kernels")
            .arg("-O3")
            .arg("-std=c++17")
            .build_ptx();
        if let Err(e) = built {
            // A build script reports by panicking; the message is what cargo shows.
            panic!("compiling kernels/*.cu with nvcc failed: {e}\n(run the build through scripts/cuda-env.sh)");
        }
    }
}
