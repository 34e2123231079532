// swiglu.cpp: the gated activation of the Llama MLP, elementwise over count values
// (gate and up are the two [n, ffn] projections).
//   forward:  out = silu(gate) * up,  silu(g) = g * s,  s = sigmoid(g) = 1 / (1 + exp(-g))
//   backward: dup = dout * silu(g);  dgate = dout * up * s * (1 + g * (1 - s))   (overwrite)
//
// exp is fsr_exp (fast_exp.h), which vectorizes: with glibc's scalar expf these loops
// are bound by the call, not by memory. 1 / (1 + exp(-g)) needs no special case: for very
// negative g, exp(-g) saturates (fsr_exp clamps its argument at 88) and s is ~0, never NaN;
// for large g it is exactly 1. The backward recomputes s from gate instead of
// saving it: one exp is cheaper than another [n, ffn] buffer read from memory.
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

namespace {

template <typename T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t count) {
    #pragma omp parallel for simd num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        T g = gate[i];
        out[i] = g / (T(1) + fsr_exp(-g)) * up[i];
    }
}

template <typename T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t count) {
    #pragma omp parallel for simd num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        T g = gate[i], d = dout[i];
        T s = T(1) / (T(1) + fsr_exp(-g));
        dup[i] = d * g * s;
        dgate[i] = d * up[i] * s * (T(1) + g * (T(1) - s));
    }
}

}  // namespace

extern "C" {
void fsr_swiglu_forward_f32(float* out, const float* gate, const float* up, int64_t count) {
    swiglu_forward(out, gate, up, count);
}
void fsr_swiglu_forward_f64(double* out, const double* gate, const double* up, int64_t count) {
    swiglu_forward(out, gate, up, count);
}
void fsr_swiglu_backward_f32(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count) {
    swiglu_backward(dgate, dup, dout, gate, up, count);
}
void fsr_swiglu_backward_f64(double* dgate, double* dup, const double* dout, const double* gate, const double* up,
                             int64_t count) {
    swiglu_backward(dgate, dup, dout, gate, up, count);
}
}
