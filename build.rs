//! With the `cuda` feature: compiles each `kernels/*.cu` to PTX in OUT_DIR (`recurrent_gates.ptx`,
//! `dropout_mask.ptx`, loaded by `src/nn/`) with the nvcc that candle's own kernels use: `$NVCC`, else `nvcc` on
//! PATH, else `$CUDA_HOME/bin/nvcc` (scripts/cuda-env.sh sets PATH and CUDA_HOME), for the GPU generation
//! `CUDA_COMPUTE_CAP` names (as candle's build does; 90 = Hopper). The PTX targets `compute_<cap>`, so newer
//! GPUs can load it too. Without the feature there is nothing to do.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    if let Err(e) = cuda::build_ptx() {
        // A build script reports by panicking; the message is what cargo shows.
        panic!("{e}\n(build with the CUDA toolkit of scripts/cuda-env.sh: see the README)");
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub fn build_ptx() -> Result<(), String> {
        for var in ["NVCC", "CUDA_HOME", "CUDA_COMPUTE_CAP"] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        println!("cargo:rerun-if-changed=kernels");
        let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
        let cap = compute_cap()?;
        let nvcc = nvcc();
        let mut sources: Vec<PathBuf> = std::fs::read_dir("kernels")
            .map_err(|e| format!("kernels/: {e}"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cu"))
            .collect();
        sources.sort();
        for src in &sources {
            println!("cargo:rerun-if-changed={}", src.display());
            let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("kernel");
            compile(&nvcc, src, &out.join(format!("{stem}.ptx")), cap)?;
        }
        Ok(())
    }

    fn compile(nvcc: &Path, src: &Path, ptx: &Path, cap: u32) -> Result<(), String> {
        let output = Command::new(nvcc)
            .args([
                "--ptx",
                "-O3",
                "-std=c++17",
                &format!("-arch=compute_{cap}"),
                "-o",
            ])
            .arg(ptx)
            .arg(src)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", nvcc.display()))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "nvcc failed on {}:\n{}{}",
            src.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }

    fn nvcc() -> PathBuf {
        if let Some(p) = std::env::var_os("NVCC") {
            return PathBuf::from(p);
        }
        match std::env::var_os("CUDA_HOME") {
            Some(home) if which_nvcc().is_none() => PathBuf::from(home).join("bin/nvcc"),
            _ => PathBuf::from("nvcc"),
        }
    }

    fn which_nvcc() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("nvcc"))
            .find(|p| p.is_file())
    }

    /// `CUDA_COMPUTE_CAP` as a number (`90`, `8.0` -> 80, `90a` -> 90).
    fn compute_cap() -> Result<u32, String> {
        let raw = std::env::var("CUDA_COMPUTE_CAP").map_err(|_| {
            "CUDA_COMPUTE_CAP is not set: name the GPU generation to compile for (90 for H100/H200)".to_string()
        })?;
        let digits: String = raw.chars().filter(|c| c.is_ascii_digit()).collect();
        let n: u32 = digits.parse().map_err(|_| {
            format!("CUDA_COMPUTE_CAP={raw} is not a compute capability such as 90")
        })?;
        Ok(if n < 20 { n * 10 } else { n })
    }
}
