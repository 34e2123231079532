// cast.cu: conversions between the storage types, elementwise over count values.
//   cast_f32_to_bf16: dst[i] = round-to-nearest-even(src[i])   (fp32 master weights -> bf16 copy)
//   cast_bf16_to_f32: dst[i] = src[i]                           (exact)
// No CPU counterpart in native/cpu: the CPU backend stores no bf16; tests check against the
// host's own round-to-nearest-even.
//
// Launch: grid (min(ceil(count/(256*4)), 4096)), block 256; grid-stride loops over 64-bit indices.
// Why fast: a memory stream like residual.cu: with aligned pointers each thread reads 4 floats
// (16 bytes) and writes 4 bf16 (8 bytes), or the reverse, per iteration; the rounding is one
// cvt.rn.bf16.f32 instruction on sm_80+.
#include "common/common.cuh"

namespace cast {

struct __align__(8) Bf16x4 {
    fsr::bf16 v[4];
};

}  // namespace cast

extern "C" __global__ void cast_f32_to_bf16(fsr::bf16* dst, const float* src, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(src) && ((unsigned long long)dst & 7u) == 0 ? count / 4 : 0;
    for (long long p = first; p < packs; p += stride) {
        const fsr::Pack16<float> x = reinterpret_cast<const fsr::Pack16<float>*>(src)[p];
        cast::Bf16x4 r;
        #pragma unroll
        for (int k = 0; k < 4; k++) r.v[k] = fsr::to_bf16(x.v[k]);
        reinterpret_cast<cast::Bf16x4*>(dst)[p] = r;
    }
    for (long long i = packs * 4 + first; i < count; i += stride) dst[i] = fsr::to_bf16(src[i]);
}
FSR_REGISTER_KERNEL(cast_f32_to_bf16)

extern "C" __global__ void cast_bf16_to_f32(float* dst, const fsr::bf16* src, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(dst) && ((unsigned long long)src & 7u) == 0 ? count / 4 : 0;
    for (long long p = first; p < packs; p += stride) {
        const cast::Bf16x4 x = reinterpret_cast<const cast::Bf16x4*>(src)[p];
        fsr::Pack16<float> r;
        #pragma unroll
        for (int k = 0; k < 4; k++) r.v[k] = fsr::to_float(x.v[k]);
        reinterpret_cast<fsr::Pack16<float>*>(dst)[p] = r;
    }
    for (long long i = packs * 4 + first; i < count; i += stride) dst[i] = fsr::to_float(src[i]);
}
FSR_REGISTER_KERNEL(cast_bf16_to_f32)
