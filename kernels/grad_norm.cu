// grad_norm.cu: the global gradient norm that clipping needs. Same math as native/cpu/grad_norm.cpp:
//   sum_squares: sum_i x_i^2 over count values, accumulated in double (the host adds the sums of
//                every gradient range and takes the square root; AdamW applies the clip)
// Storage fp32 (_f32) or bf16 (_bf16).
//
// Launch: sum_squares_partial grid (P = min(ceil(count/(256*N)), 1024)), block 256, writes one
// double per block to partial[P]; sum_squares_finish grid (1), block P rounded up to a warp (at
// most 1024), sums partial[0..P) into total[0]; N = 16/sizeof(T).
// Why this way: the clipping decision depends on the norm, so the sum must be the same bits on
// every run: no atomics, a fixed grid for a given count and a fixed reduction tree in both
// passes. Each thread accumulates its grid-stride share in double (the squares of fp32 values
// are exact in double, so only the additions round, as on the CPU) from 16-byte loads; the second
// pass is tiny. The host reads back one double.
#include "common/common.cuh"

namespace grad_norm {

__device__ __forceinline__ double warp_sum(double v) {
    #pragma unroll
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// fsr::block_sum in double; blockDim.x a multiple of 32. Called once per kernel, so no leading
// barrier is needed for reuse of the scratch.
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double partial[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize;
    const int warp = threadIdx.x / fsr::kWarpSize;
    const int warps = blockDim.x / fsr::kWarpSize;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0;
    return warp_sum(v);
}

template <typename T>
__device__ void sum_squares_partial(double* partial, const T* x, long long count) {
    using Pack = fsr::Pack16<T>;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(x) ? count / Pack::N : 0;
    double s = 0.0;
    for (long long p = first; p < packs; p += stride) {
        const Pack pack = reinterpret_cast<const Pack*>(x)[p];
        #pragma unroll
        for (int k = 0; k < Pack::N; k++) {
            const double d = fsr::to_float(pack.v[k]);
            s += d * d;
        }
    }
    for (long long i = packs * Pack::N + first; i < count; i += stride) {
        const double d = fsr::to_float(x[i]);
        s += d * d;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

}  // namespace grad_norm

extern "C" __global__ void __launch_bounds__(256) sum_squares_partial_f32(double* partial, const float* x, long long count) {
    grad_norm::sum_squares_partial(partial, x, count);
}
FSR_REGISTER_KERNEL(sum_squares_partial_f32)

extern "C" __global__ void __launch_bounds__(256) sum_squares_partial_bf16(double* partial, const fsr::bf16* x, long long count) {
    grad_norm::sum_squares_partial(partial, x, count);
}
FSR_REGISTER_KERNEL(sum_squares_partial_bf16)

extern "C" __global__ void __launch_bounds__(1024) sum_squares_finish(double* total, const double* partial, int blocks) {
    double s = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) s += partial[b];
    s = grad_norm::block_sum(s);
    if (threadIdx.x == 0) total[0] = s;
}
FSR_REGISTER_KERNEL(sum_squares_finish)
