// rmsnorm.cu: RMSNorm (Llama) over the rows of x [n, C] with weight w [C]; rstd [n] (fp32) is
// saved for the backward. Same math as native/cpu/rmsnorm.cpp:
//   forward:          rstd[i] = 1/sqrt(mean_j x[i,j]^2 + eps);  out[i,j] = x[i,j] * rstd[i] * w[j]
//   backward:         g = dout * w, r = rstd[i]:
//                     dx[i,j] = r g[i,j] - x[i,j] r^3 / C * sum_k g[i,k] x[i,k]        (overwrite)
//   backward_weight:  dw[j] += sum_i dout[i,j] x[i,j] rstd[i]                      (accumulate, fp32)
// Storage of x, w, out, dout, dx: fp32 (_f32) or bf16 (_bf16); sums and rstd in fp32.
//
// Launch: forward and backward one block per row, grid (n), block 256 or more threads (a
// multiple of 32, at most 1024); backward_weight grid (ceil(C/32)), block (32, 32).
// Why fast: a row is one block, so its reduction is one warp-shuffle tree plus one pass through
// shared memory and the row is read from HBM once (the second pass hits L1/L2: 16 KiB at C=4096
// in fp32). Loads are coalesced, and 16 bytes wide (W = 4 fp32 or 8 bf16 per thread) whenever the
// row width and the base addresses allow, which the model's widths always do; other shapes take
// the same code with W = 1. The weight gradient gives each column to one thread column of a
// 32x32 block, which walks rows with a stride of 32 and then sums its 32 partials in a fixed
// order: no atomics, the same bits on every run, and each warp reads 32 consecutive columns.
#include "common/common.cuh"

namespace rmsnorm {

template <typename T, int W>
__device__ void forward(T* out, float* rstd, const T* x, const T* w, long long C, float eps) {
    using V = fsr::Vec<T, W>;
    const long long row = blockIdx.x;
    const V* xr = reinterpret_cast<const V*>(x + row * C);
    const V* wv = reinterpret_cast<const V*>(w);
    V* outr = reinterpret_cast<V*>(out + row * C);
    const long long vectors = C / W;
    float ss = 0.0f;
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        const V xv = xr[p];
        #pragma unroll
        for (int k = 0; k < W; k++) {
            const float v = fsr::to_float(xv.v[k]);
            ss += v * v;
        }
    }
    ss = fsr::block_sum(ss);
    const float r = rsqrtf(ss / (float)C + eps);
    if (threadIdx.x == 0) rstd[row] = r;
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        const V xv = xr[p], wk = wv[p];
        V o;
        #pragma unroll
        for (int k = 0; k < W; k++) fsr::store(&o.v[k], fsr::to_float(xv.v[k]) * r * fsr::to_float(wk.v[k]));
        outr[p] = o;
    }
}

template <typename T, int W>
__device__ void backward(T* dx, const T* dout, const T* x, const T* w, const float* rstd, long long C) {
    using V = fsr::Vec<T, W>;
    const long long row = blockIdx.x;
    const V* xr = reinterpret_cast<const V*>(x + row * C);
    const V* dr = reinterpret_cast<const V*>(dout + row * C);
    const V* wv = reinterpret_cast<const V*>(w);
    V* dxr = reinterpret_cast<V*>(dx + row * C);
    const long long vectors = C / W;
    float dot = 0.0f;
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        const V xv = xr[p], dv = dr[p], wk = wv[p];
        #pragma unroll
        for (int k = 0; k < W; k++) dot += fsr::to_float(dv.v[k]) * fsr::to_float(wk.v[k]) * fsr::to_float(xv.v[k]);
    }
    dot = fsr::block_sum(dot);
    const float r = rstd[row];
    const float coef = dot * r * r * r / (float)C;
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        const V xv = xr[p], dv = dr[p], wk = wv[p];
        V o;
        #pragma unroll
        for (int k = 0; k < W; k++)
            fsr::store(&o.v[k], r * fsr::to_float(dv.v[k]) * fsr::to_float(wk.v[k]) - coef * fsr::to_float(xv.v[k]));
        dxr[p] = o;
    }
}

// Rows are read 16 bytes at a time when every row start is 16-byte aligned: the bases are, and
// the row width is a whole number of 16-byte packs. The condition is uniform over the grid.
template <typename T>
__device__ bool packed_rows(long long C, const void* a, const void* b, const void* c, const void* d = nullptr) {
    return C % fsr::Pack16<T>::N == 0 && fsr::aligned16(a, b, c) && fsr::aligned16(d);
}

template <typename T>
__device__ void backward_weight(float* dw, const T* dout, const T* x, const float* rstd, long long n, long long C) {
    __shared__ float partial[32][33];  // +1 column: the final per-column reads hit 32 different banks
    const long long j = (long long)blockIdx.x * 32 + threadIdx.x;
    float acc = 0.0f;
    if (j < C)
        for (long long i = threadIdx.y; i < n; i += 32)
            acc += fsr::to_float(dout[i * C + j]) * fsr::to_float(x[i * C + j]) * rstd[i];
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < C) {
        float sum = 0.0f;
        for (int k = 0; k < 32; k++) sum += partial[k][threadIdx.x];
        dw[j] += sum;
    }
}

}  // namespace rmsnorm

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_forward_f32(float* out, float* rstd, const float* x,
        const float* w, long long C, float eps) {
    if (rmsnorm::packed_rows<float>(C, out, x, w)) rmsnorm::forward<float, 4>(out, rstd, x, w, C, eps);
    else rmsnorm::forward<float, 1>(out, rstd, x, w, C, eps);
}
FSR_REGISTER_KERNEL(rmsnorm_forward_f32)

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_forward_bf16(fsr::bf16* out, float* rstd, const fsr::bf16* x,
        const fsr::bf16* w, long long C, float eps) {
    if (rmsnorm::packed_rows<fsr::bf16>(C, out, x, w)) rmsnorm::forward<fsr::bf16, 8>(out, rstd, x, w, C, eps);
    else rmsnorm::forward<fsr::bf16, 1>(out, rstd, x, w, C, eps);
}
FSR_REGISTER_KERNEL(rmsnorm_forward_bf16)

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_f32(float* dx, const float* dout, const float* x,
        const float* w, const float* rstd, long long C) {
    if (rmsnorm::packed_rows<float>(C, dx, dout, x, w)) rmsnorm::backward<float, 4>(dx, dout, x, w, rstd, C);
    else rmsnorm::backward<float, 1>(dx, dout, x, w, rstd, C);
}
FSR_REGISTER_KERNEL(rmsnorm_backward_f32)

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_bf16(fsr::bf16* dx, const fsr::bf16* dout,
        const fsr::bf16* x, const fsr::bf16* w, const float* rstd, long long C) {
    if (rmsnorm::packed_rows<fsr::bf16>(C, dx, dout, x, w)) rmsnorm::backward<fsr::bf16, 8>(dx, dout, x, w, rstd, C);
    else rmsnorm::backward<fsr::bf16, 1>(dx, dout, x, w, rstd, C);
}
FSR_REGISTER_KERNEL(rmsnorm_backward_bf16)

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_weight_f32(float* dw, const float* dout,
        const float* x, const float* rstd, long long n, long long C) {
    rmsnorm::backward_weight(dw, dout, x, rstd, n, C);
}
FSR_REGISTER_KERNEL(rmsnorm_backward_weight_f32)

extern "C" __global__ void __launch_bounds__(1024) rmsnorm_backward_weight_bf16(float* dw, const fsr::bf16* dout,
        const fsr::bf16* x, const float* rstd, long long n, long long C) {
    rmsnorm::backward_weight(dw, dout, x, rstd, n, C);
}
FSR_REGISTER_KERNEL(rmsnorm_backward_weight_bf16)
