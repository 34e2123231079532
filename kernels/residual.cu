// residual.cu: the residual stream, elementwise over count values. Same math as
// native/cpu/residual.cpp:
//   forward:  out = a + b          (out may alias a or b)
//   backward: dst += src           (the stream's gradient is the sum of its two paths)
// Storage fp32 (_f32) or bf16 (_bf16); the add is done in fp32 and rounded once.
//
// Launch: grid (min(ceil(count/(256*N)), 4096)), block 256, N = 16/sizeof(T); grid-stride loops
// over 64-bit indices.
// Why fast: a pure memory stream. When every pointer is 16-byte aligned (always, for whole
// buffers) each thread moves 16 bytes per load and store (Pack16), a warp 512 contiguous bytes;
// a scalar loop takes the unaligned remainder or an unaligned slice. The grid-stride loop keeps
// the grid a few waves large whatever count is, so no block idles on a tail.
#include "common/common.cuh"

namespace residual {

template <typename T>
__device__ void forward(T* out, const T* a, const T* b, long long count) {
    using Pack = fsr::Pack16<T>;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(out, a, b) ? count / Pack::N : 0;
    for (long long p = first; p < packs; p += stride) {
        const Pack x = reinterpret_cast<const Pack*>(a)[p];
        const Pack y = reinterpret_cast<const Pack*>(b)[p];
        Pack r;
        #pragma unroll
        for (int k = 0; k < Pack::N; k++) fsr::store(&r.v[k], fsr::to_float(x.v[k]) + fsr::to_float(y.v[k]));
        reinterpret_cast<Pack*>(out)[p] = r;
    }
    for (long long i = packs * Pack::N + first; i < count; i += stride)
        fsr::store(out + i, fsr::to_float(a[i]) + fsr::to_float(b[i]));
}

template <typename T>
__device__ void backward(T* dst, const T* src, long long count) {
    using Pack = fsr::Pack16<T>;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(dst, src) ? count / Pack::N : 0;
    for (long long p = first; p < packs; p += stride) {
        Pack d = reinterpret_cast<const Pack*>(dst)[p];
        const Pack s = reinterpret_cast<const Pack*>(src)[p];
        #pragma unroll
        for (int k = 0; k < Pack::N; k++) fsr::store(&d.v[k], fsr::to_float(d.v[k]) + fsr::to_float(s.v[k]));
        reinterpret_cast<Pack*>(dst)[p] = d;
    }
    for (long long i = packs * Pack::N + first; i < count; i += stride)
        fsr::store(dst + i, fsr::to_float(dst[i]) + fsr::to_float(src[i]));
}

}  // namespace residual

extern "C" __global__ void residual_forward_f32(float* out, const float* a, const float* b, long long count) {
    residual::forward(out, a, b, count);
}
FSR_REGISTER_KERNEL(residual_forward_f32)

extern "C" __global__ void residual_forward_bf16(fsr::bf16* out, const fsr::bf16* a, const fsr::bf16* b, long long count) {
    residual::forward(out, a, b, count);
}
FSR_REGISTER_KERNEL(residual_forward_bf16)

extern "C" __global__ void residual_backward_f32(float* dst, const float* src, long long count) {
    residual::backward(dst, src, count);
}
FSR_REGISTER_KERNEL(residual_backward_f32)

extern "C" __global__ void residual_backward_bf16(fsr::bf16* dst, const fsr::bf16* src, long long count) {
    residual::backward(dst, src, count);
}
FSR_REGISTER_KERNEL(residual_backward_bf16)
