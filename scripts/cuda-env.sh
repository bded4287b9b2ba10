#!/usr/bin/env bash
# The CUDA toolkit that `--features cuda` builds with, from PyPI's wheels, in the ignored folder `.cuda/`.
#
#   scripts/cuda-env.sh cargo build --release --features cuda     # install if needed, then run the command
#   source scripts/cuda-env.sh                                     # or: set the variables in this shell
#
# Why wheels: candle's `cuda` feature compiles its kernels with nvcc (candle-kernels, through cudaforge) and links
# cuBLAS, cuRAND, NVRTC and the driver (cudarc with `dynamic-linking`); no GPU is needed for either, only the
# toolkit, and PyPI ships it as wheels that pip installs on any x86-64 Linux with Python 3.
#
# Why CUDA 13.0 exactly: a driver loads PTX only up to its own CUDA version, and the GPU machines this project is
# checked on run driver 13.0, so PTX from a newer nvcc would fail there (CUDA_ERROR_UNSUPPORTED_PTX_VERSION).
# cudarc 0.19 (candle 0.11's) supports CUDA 13.0 (`cuda-13000`), chosen from `nvcc --version` by its
# `cuda-version-from-build-system` feature, which candle turns on.
#
# What it sets: CUDA_HOME / CUDA_PATH / CUDA_ROOT (cudarc's link search: lib/ and lib/stubs/), PATH (nvcc),
# CUDA_COMPUTE_CAP (the GPU generation the kernels are compiled for; 90 = Hopper, H100/H200, unless you set it),
# CUDAFORGE_THREADS (parallel nvcc jobs) and FUSEC_CUDA_LIBS (where cuBLAS & co. are, for LD_LIBRARY_PATH when
# running here). The driver library (libcuda.so.1) comes with the GPU's driver, so the linker gets a stub of it
# (lib/stubs/libcuda.so), generated from the functions cudarc declares, as NVIDIA's own toolkit ships one; never
# put lib/stubs on LD_LIBRARY_PATH on a machine with a GPU.

_fusec_cuda_main() {
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local dir="$repo/.cuda"
    local root="$dir/py/nvidia/cu13"
    # One CUDA release (13.0 update 2) throughout; bump all of them together.
    local wheels=(
        nvidia-cuda-nvcc==13.0.88
        nvidia-nvvm==13.0.88
        nvidia-cuda-crt==13.0.88
        nvidia-cuda-runtime==13.0.96
        nvidia-cuda-cccl==13.0.85
        nvidia-cuda-nvrtc==13.0.88
        nvidia-curand==10.4.0.35
        nvidia-cublas==13.1.0.3
    )
    local stamp="${wheels[*]} stub-v1"
    if [[ ! -f "$dir/stamp" || "$(cat "$dir/stamp")" != "$stamp" ]]; then
        echo "cuda-env: installing the CUDA 13.0 toolkit wheels into $dir (about 1 GB)" >&2
        rm -rf "$dir/py" "$dir/stamp"
        mkdir -p "$dir"
        # One pip call: --target merges the wheels' common `nvidia/` folder only within a single install.
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
            --target "$dir/py" "${wheels[@]}" || return 1
        _fusec_cuda_links "$root" || return 1
        _fusec_cuda_stub "$repo" "$root" || return 1
        echo "$stamp" >"$dir/stamp"
    fi
    export CUDA_HOME="$root" CUDA_PATH="$root" CUDA_ROOT="$root"
    case ":$PATH:" in *":$root/bin:"*) ;; *) export PATH="$root/bin:$PATH" ;; esac
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
    # candle-kernels compiles its .cu files on half the cores by default; its build script runs while little
    # else can, so give it all of them.
    export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
    export FUSEC_CUDA_LIBS="$root/lib"
}

# The wheels ship only versioned libraries (libcublas.so.13); the linker looks for libcublas.so.
_fusec_cuda_links() {
    local lib="$1/lib" f
    for f in "$lib"/lib{cublas,cublasLt,curand,nvrtc,cudart}.so.*; do
        [[ "$f" == *.alt.* ]] && continue
        ln -sfn "$(basename "$f")" "$lib/$(basename "$f" | sed 's/\.so\..*/.so/')"
    done
}

# A link-time stand-in for the driver: every cu* function cudarc declares, returning CUDA_ERROR_STUB_LIBRARY (34),
# under the driver's soname, so the binary asks for the real libcuda.so.1 where it runs.
_fusec_cuda_stub() {
    local repo="$1" root="$2"
    (cd "$repo" && cargo fetch --locked --quiet) || return 1
    local version src
    version="$(grep -A1 '^name = "cudarc"$' "$repo/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')"
    src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$version" 2>/dev/null | head -n1)"
    if [[ -z "$src" ]]; then
        echo "cuda-env: cudarc $version's source is not in the cargo registry" >&2
        return 1
    fi
    mkdir -p "$root/lib/stubs"
    grep -oh 'pub unsafe fn cu[A-Za-z0-9_]*' "$src/src/driver/sys/mod.rs" | sed 's/pub unsafe fn //' | sort -u |
        sed 's/.*/int &(void) { return 34; }/' >"$root/lib/stubs/libcuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$root/lib/stubs/libcuda_stub.c" ||
        return 1
    ln -sfn libcuda.so "$root/lib/stubs/libcuda.so.1"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    _fusec_cuda_main
else
    set -euo pipefail
    _fusec_cuda_main
    if [[ $# -gt 0 ]]; then
        exec "$@"
    fi
fi
