// residual.cu: the residual stream, elementwise over count values. Same math as
// native/cpu/residual.cpp:
//   forward:  out = a + b          (out may alias a or b)
//   backward: dst += src           (the stream's gradient is the sum of its two paths)
// Storage fp32 (_f32) or bf16 (_bf16); the add is done in fp32 and rounded once.
//
// Launch: grid (min(ceil(count/256), 65535 * 8)), block 256; grid-stride loop over 64-bit indices.
// Why fast: a pure memory stream: thread t of a block touches element base+t, so every warp moves
// whole 128-byte (fp32) or 64-byte (bf16) segments; the grid-stride loop keeps the grid a few
// waves large whatever count is, so no launch is oversized and no block idles on a tail.
#include "common/common.cuh"

namespace residual {

template <typename T>
__device__ void forward(T* out, const T* a, const T* b, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        fsr::store(out + i, fsr::to_float(a[i]) + fsr::to_float(b[i]));
}

template <typename T>
__device__ void backward(T* dst, const T* src, long long count) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
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
