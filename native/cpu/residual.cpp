// residual.cpp: the residual stream.
//   forward:  out = a + b, elementwise over count values (out may alias a or b)
//   backward: dst += src (the residual branch passes its gradient through unchanged, and
//             the stream's gradient is the sum of the two paths)
//
// Pure memory streams: a plain loop the compiler vectorizes, split across threads. No
// restrict qualifiers, because out may alias an input; elementwise, aliasing is harmless.
#include "common.h"
#include "parallel.h"

namespace {

template <typename T>
void residual_forward(T* out, const T* a, const T* b, int64_t count) {
    #pragma omp parallel for simd num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < count; i++) out[i] = a[i] + b[i];
}

template <typename T>
void residual_backward(T* dst, const T* src, int64_t count) {
    #pragma omp parallel for simd num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < count; i++) dst[i] += src[i];
}

}  // namespace

extern "C" {
void fsr_residual_forward_f32(float* out, const float* a, const float* b, int64_t count) { residual_forward(out, a, b, count); }
void fsr_residual_forward_f64(double* out, const double* a, const double* b, int64_t count) { residual_forward(out, a, b, count); }
void fsr_residual_backward_f32(float* dst, const float* src, int64_t count) { residual_backward(dst, src, count); }
void fsr_residual_backward_f64(double* dst, const double* src, int64_t count) { residual_backward(dst, src, count); }
}
