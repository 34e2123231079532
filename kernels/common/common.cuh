// common.cuh: what every kernels/*.cu includes first. Under NVRTC it is plain CUDA C++; under
// g++ (native/cuda_emu, the CPU emulator) the emulator's header makes CUDA C++ host C++ and
// defines FSR_REGISTER_KERNEL to register each kernel for launch by name.
//
// Conventions of every kernel file: a header comment with what it computes, shapes, launch
// configuration and why it is fast; `extern "C" __global__` entry points followed by
// FSR_REGISTER_KERNEL(name); parameters are pointers, long long, int and float only; indices are
// 64-bit (B*T*V passes 2^31); storage is fp32 or bf16, arithmetic fp32.
#pragma once

#ifndef __CUDACC_RTC__
#include "cuda_emu.h"
#endif

#ifndef FSR_REGISTER_KERNEL
#define FSR_REGISTER_KERNEL(name)
#endif

// Dynamic shared memory, as a statement in a kernel body: `FSR_EXTERN_SHARED(float, smem);`.
// `extern __shared__` cannot be spelled by a host-C++ macro, so the emulator supplies its own.
#ifndef FSR_EXTERN_SHARED
#define FSR_EXTERN_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

#include "common/bf16.cuh"

namespace fsr {

constexpr int kWarpSize = 32;

// Sum over the 32 lanes of a full warp; every lane gets the total. The xor butterfly gives every
// lane the same bits, so no broadcast is needed afterwards.
__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum over a whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
// Fixed reduction tree, so the result is the same bits on every run. The leading barrier makes
// back-to-back calls safe: the scratch of the previous call is fully read before it is reused.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[kWarpSize];
    const int lane = threadIdx.x % kWarpSize;
    const int warp = threadIdx.x / kWarpSize;
    const int warps = blockDim.x / kWarpSize;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0f;
    return warp_sum(v);
}

// W consecutive elements moved by one load or store of W·sizeof(T) bytes.
template <typename T, int W>
struct __align__(sizeof(T) * W) Vec {
    T v[W];
};

// 16 bytes of T (4 fp32 or 8 bf16) moved by one 128-bit load or store: a warp then moves 512
// contiguous bytes per instruction, which is what keeps HBM busy with few loads in flight.
template <typename T>
struct __align__(16) Pack16 {
    static constexpr int N = 16 / sizeof(T);
    T v[N];
};

// Whether every pointer allows Pack16 access (a slice of a tensor may start anywhere).
__device__ __forceinline__ bool aligned16(const void* a) { return ((unsigned long long)a & 15u) == 0; }
__device__ __forceinline__ bool aligned16(const void* a, const void* b) { return aligned16(a) && aligned16(b); }
__device__ __forceinline__ bool aligned16(const void* a, const void* b, const void* c) { return aligned16(a, b) && aligned16(c); }

}  // namespace fsr
