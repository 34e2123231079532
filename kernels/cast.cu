// cast.cu: conversions between the storage types, elementwise over count values.
//   cast_f32_to_bf16: dst[i] = round-to-nearest-even(src[i])   (fp32 master weights -> bf16 copy)
//   cast_bf16_to_f32: dst[i] = src[i]                           (exact)
// No CPU counterpart in native/cpu: the CPU backend stores no bf16; tests check against the
// host's own round-to-nearest-even.
//
// Launch: grid (min(ceil(count/256), 65535 * 8)), block 256; grid-stride loop over 64-bit indices.
// Why fast: a memory stream like residual.cu, coalesced on both sides; the rounding is one
// cvt.rn.bf16.f32 instruction on sm_80+.
#include "common/common.cuh"

extern "C" __global__ void cast_f32_to_bf16(fsr::bf16* dst, const float* src, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        dst[i] = fsr::to_bf16(src[i]);
}
FSR_REGISTER_KERNEL(cast_f32_to_bf16)

extern "C" __global__ void cast_bf16_to_f32(float* dst, const fsr::bf16* src, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        dst[i] = fsr::to_float(src[i]);
}
FSR_REGISTER_KERNEL(cast_bf16_to_f32)
