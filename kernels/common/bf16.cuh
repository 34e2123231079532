// bf16.cuh: the project's own bfloat16 storage type, so no NVIDIA header is needed (NVRTC ships
// no cuda_bf16.h before CUDA 13.3, and Debian's NVRTC 11.8 has none). Names stay out of the
// __nv_* space so a CUDA header included elsewhere can never clash with them.
//
// bf16 is the top half of an IEEE float32: 1 sign, 8 exponent, 7 mantissa bits.
//   to_float(b)  = bits(b) << 16                                           (exact)
//   to_bf16(f)   = round-to-nearest-even of f to 8 mantissa bits; NaN stays NaN (quiet bit set)
// On sm_80+ the conversion is one cvt.rn.bf16.f32 instruction; the host twin (the emulator, and
// any architecture below sm_80) computes the same bits with integer arithmetic.
#pragma once

namespace fsr {

struct __align__(2) bf16 {
    unsigned short bits;
};

__device__ __forceinline__ unsigned int float_bits(float f) {
#ifdef __CUDACC_RTC__
    return __float_as_uint(f);
#else
    unsigned int u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
#endif
}

__device__ __forceinline__ float bits_float(unsigned int u) {
#ifdef __CUDACC_RTC__
    return __uint_as_float(u);
#else
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
#endif
}

__device__ __forceinline__ float to_float(bf16 b) { return bits_float((unsigned int)b.bits << 16); }
__device__ __forceinline__ float to_float(float f) { return f; }

__device__ __forceinline__ bf16 to_bf16(float f) {
    bf16 r;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(f));
#else
    unsigned int u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x40u);
    } else {
        // Adding 0x7fff rounds up exactly when the dropped half exceeds one half ulp; the
        // kept lsb breaks the tie towards even.
        u += 0x7fffu + ((u >> 16) & 1u);
        r.bits = (unsigned short)(u >> 16);
    }
#endif
    return r;
}

// Stores an fp32 result into either storage type, so one kernel template serves both.
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(bf16* p, float v) { *p = to_bf16(v); }

}  // namespace fsr
