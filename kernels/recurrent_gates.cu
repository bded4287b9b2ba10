// The pointwise gate math of one LSTM or GRU time step, forward and backward, one thread per (row, unit).
// src/nn/fused_gates.rs launches these through candle custom ops; its CPU reference implements the same formulas
// (keep the two in step). Every tensor is contiguous and row-major; H is the hidden size, n = rows * H threads.
// Half types compute in float; double computes in double.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };

__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
__device__ __forceinline__ float to_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_acc(float x);
template <> __device__ __forceinline__ float from_acc<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_acc<__half>(float x) { return __float2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float x) {
    return __float2bfloat16(x);
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }

template <typename T, typename A> __device__ __forceinline__ T store(A x) { return from_acc<T>(x); }
template <> __device__ __forceinline__ double store<double, double>(double x) { return x; }

// LSTM forward. gates [rows, 4H] (i, f, g, o pre-activations), c_prev [rows, H] -> out [rows, 2H] = [h | c].
template <typename T>
__device__ void lstm_fwd(const T* gates, const T* c_prev, T* out, uint32_t rows, uint32_t hidden) {
    typedef typename Acc<T>::type A;
    uint32_t idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * hidden) return;
    uint32_t r = idx / hidden, j = idx % hidden;
    const T* g = gates + (size_t)r * 4 * hidden;
    A i = sigmoid(to_acc(g[j]));
    A f = sigmoid(to_acc(g[hidden + j]));
    A c_in = tanh_(to_acc(g[2 * hidden + j]));
    A o = sigmoid(to_acc(g[3 * hidden + j]));
    A c = f * to_acc(c_prev[idx]) + i * c_in;
    A h = o * tanh_(c);
    out[(size_t)r * 2 * hidden + j] = store<T, A>(h);
    out[(size_t)r * 2 * hidden + hidden + j] = store<T, A>(c);
}

// LSTM backward. gates, c_prev as in the forward; grad [rows, 2H] = [dh | dc] of the forward's output
// -> out [rows, 5H] = [d gates (4H) | d c_prev (H)]. The activations are recomputed, not stored.
template <typename T>
__device__ void lstm_bwd(const T* gates, const T* c_prev, const T* grad, T* out, uint32_t rows,
                         uint32_t hidden) {
    typedef typename Acc<T>::type A;
    uint32_t idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * hidden) return;
    uint32_t r = idx / hidden, j = idx % hidden;
    const T* g = gates + (size_t)r * 4 * hidden;
    A i = sigmoid(to_acc(g[j]));
    A f = sigmoid(to_acc(g[hidden + j]));
    A c_in = tanh_(to_acc(g[2 * hidden + j]));
    A o = sigmoid(to_acc(g[3 * hidden + j]));
    A cp = to_acc(c_prev[idx]);
    A c = f * cp + i * c_in;
    A tc = tanh_(c);
    A dh = to_acc(grad[(size_t)r * 2 * hidden + j]);
    A dc = to_acc(grad[(size_t)r * 2 * hidden + hidden + j]) + dh * o * (A(1) - tc * tc);
    T* d = out + (size_t)r * 5 * hidden;
    d[j] = store<T, A>(dc * c_in * i * (A(1) - i));
    d[hidden + j] = store<T, A>(dc * cp * f * (A(1) - f));
    d[2 * hidden + j] = store<T, A>(dc * i * (A(1) - c_in * c_in));
    d[3 * hidden + j] = store<T, A>(dh * tc * o * (A(1) - o));
    d[4 * hidden + j] = store<T, A>(dc * f);
}

// GRU forward. gx [rows, 3H] = x W_ih^T + b_ih, gh [rows, 3H] = h W_hh^T + b_hh (r, z, n), h_prev [rows, H]
// -> h [rows, H]: r = s(gx_r + gh_r), z = s(gx_z + gh_z), n = tanh(gx_n + r gh_n), h = n + z (h_prev - n).
template <typename T>
__device__ void gru_fwd(const T* gx, const T* gh, const T* h_prev, T* out, uint32_t rows, uint32_t hidden) {
    typedef typename Acc<T>::type A;
    uint32_t idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * hidden) return;
    uint32_t r = idx / hidden, j = idx % hidden;
    size_t base = (size_t)r * 3 * hidden;
    A rg = sigmoid(to_acc(gx[base + j]) + to_acc(gh[base + j]));
    A z = sigmoid(to_acc(gx[base + hidden + j]) + to_acc(gh[base + hidden + j]));
    A n = tanh_(to_acc(gx[base + 2 * hidden + j]) + rg * to_acc(gh[base + 2 * hidden + j]));
    out[idx] = store<T, A>(n + z * (to_acc(h_prev[idx]) - n));
}

// GRU backward. gx, gh as in the forward; hd [rows, 2H] = [h_prev | dh]
// -> out [rows, 7H] = [d gx (3H) | d gh (3H) | d h_prev (H)].
template <typename T>
__device__ void gru_bwd(const T* gx, const T* gh, const T* hd, T* out, uint32_t rows, uint32_t hidden) {
    typedef typename Acc<T>::type A;
    uint32_t idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * hidden) return;
    uint32_t r = idx / hidden, j = idx % hidden;
    size_t base = (size_t)r * 3 * hidden;
    A ghn = to_acc(gh[base + 2 * hidden + j]);
    A rg = sigmoid(to_acc(gx[base + j]) + to_acc(gh[base + j]));
    A z = sigmoid(to_acc(gx[base + hidden + j]) + to_acc(gh[base + hidden + j]));
    A n = tanh_(to_acc(gx[base + 2 * hidden + j]) + rg * ghn);
    A hp = to_acc(hd[(size_t)r * 2 * hidden + j]);
    A dh = to_acc(hd[(size_t)r * 2 * hidden + hidden + j]);
    A dn = dh * (A(1) - z) * (A(1) - n * n);
    A dz = dh * (hp - n) * z * (A(1) - z);
    A dr = dn * ghn * rg * (A(1) - rg);
    T* d = out + (size_t)r * 7 * hidden;
    d[j] = store<T, A>(dr);
    d[hidden + j] = store<T, A>(dz);
    d[2 * hidden + j] = store<T, A>(dn);
    d[3 * hidden + j] = store<T, A>(dr);
    d[4 * hidden + j] = store<T, A>(dz);
    d[5 * hidden + j] = store<T, A>(dn * rg);
    d[6 * hidden + j] = store<T, A>(dh * z);
}

#define GATES_KERNELS(T, SUFFIX)                                                                           \
    extern "C" __global__ void lstm_gates_fwd_##SUFFIX(const T* gates, const T* c_prev, T* out,          \
                                                        uint32_t rows, uint32_t hidden) {                \
        lstm_fwd<T>(gates, c_prev, out, rows, hidden);                                                   \
    }                                                                                                    \
    extern "C" __global__ void lstm_gates_bwd_##SUFFIX(const T* gates, const T* c_prev, const T* grad,   \
                                                        T* out, uint32_t rows, uint32_t hidden) {        \
        lstm_bwd<T>(gates, c_prev, grad, out, rows, hidden);                                             \
    }                                                                                                    \
    extern "C" __global__ void gru_gates_fwd_##SUFFIX(const T* gx, const T* gh, const T* h_prev, T* out, \
                                                       uint32_t rows, uint32_t hidden) {                 \
        gru_fwd<T>(gx, gh, h_prev, out, rows, hidden);                                                   \
    }                                                                                                    \
    extern "C" __global__ void gru_gates_bwd_##SUFFIX(const T* gx, const T* gh, const T* hd, T* out,     \
                                                       uint32_t rows, uint32_t hidden) {                 \
        gru_bwd<T>(gx, gh, hd, out, rows, hidden);                                                       \
    }

GATES_KERNELS(float, f32)
GATES_KERNELS(double, f64)
GATES_KERNELS(__nv_bfloat16, bf16)
GATES_KERNELS(__half, f16)
