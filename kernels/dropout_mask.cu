// Inverted-dropout masks generated on the GPU: element i is 0 when u_i < p and 1/(1-p) otherwise, where u_i is a
// counter-based hash of (seed, i) (splitmix64, the top 53 bits as a double in [0, 1)). The same formula runs on
// the CPU in src/nn/dropout_mask.rs (keep the two in step), so a seed gives the same mask on every device.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ double uniform_at(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

#define MASK_KERNEL(T, SUFFIX, CONVERT)                                                                   \
    extern "C" __global__ void dropout_mask_##SUFFIX(T* out, uint64_t seed, uint64_t n, double p,        \
                                                     double keep) {                                      \
        uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;                                    \
        if (i >= n) return;                                                                              \
        out[i] = CONVERT(uniform_at(seed, i) < p ? 0.0 : keep);                                          \
    }

#define TO_F32(x) ((float)(x))
#define TO_F64(x) (x)
#define TO_BF16(x) __float2bfloat16((float)(x))
#define TO_F16(x) __float2half((float)(x))

MASK_KERNEL(float, f32, TO_F32)
MASK_KERNEL(double, f64, TO_F64)
MASK_KERNEL(__nv_bfloat16, bf16, TO_BF16)
MASK_KERNEL(__half, f16, TO_F16)
