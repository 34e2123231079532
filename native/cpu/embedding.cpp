// embedding.cpp: token embedding lookup and its gradient.
//   forward:  out[i,:] = table[tokens[i],:]         table [V,C], out [n,C], tokens [n]
//   backward: dtable[tokens[i],:] += dout[i,:]      (parameter gradient: accumulates)
//
// The forward is a row gather, parallel over rows. In the backward, rows with the same
// token add into the same dtable row, so splitting rows across threads would race (or need
// atomics, whose order, and so whose float sum, changes run to run). Instead each thread
// owns a range of columns and walks all n rows in order: every dtable element receives its
// additions in row order, the same sum as the serial loop whatever the thread count. Token
// ids are validated by the caller (0 <= tokens[i] < V).
#include "common.h"
#include "parallel.h"

#include <algorithm>

namespace {

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* table, int64_t n, int64_t C) {
    #pragma omp parallel for num_threads(fsr_threads()) if(n * C > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const T* src = table + (int64_t)tokens[i] * C;
        T* dst = out + i * C;
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) dst[j] = src[j];
    }
}

template <typename T>
void embedding_backward(T* dtable, const T* dout, const int32_t* tokens, int64_t n, int64_t C) {
    // 64 columns span whole cache lines when rows are aligned, so threads seldom share one.
    constexpr int64_t CB = 64;
    int64_t blocks = (C + CB - 1) / CB;
    #pragma omp parallel for num_threads(fsr_threads()) if(n * C > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t j0 = b * CB, j1 = std::min(C, j0 + CB);
        for (int64_t i = 0; i < n; i++) {
            T* dst = dtable + (int64_t)tokens[i] * C;
            const T* src = dout + i * C;
            #pragma omp simd
            for (int64_t j = j0; j < j1; j++) dst[j] += src[j];
        }
    }
}

}  // namespace

extern "C" {
void fsr_embedding_forward_f32(float* out, const int32_t* tokens, const float* table, int64_t n, int64_t C) {
    embedding_forward(out, tokens, table, n, C);
}
void fsr_embedding_forward_f64(double* out, const int32_t* tokens, const double* table, int64_t n, int64_t C) {
    embedding_forward(out, tokens, table, n, C);
}
void fsr_embedding_backward_f32(float* dtable, const float* dout, const int32_t* tokens, int64_t n, int64_t C) {
    embedding_backward(dtable, dout, tokens, n, C);
}
void fsr_embedding_backward_f64(double* dtable, const double* dout, const int32_t* tokens, int64_t n, int64_t C) {
    embedding_backward(dtable, dout, tokens, n, C);
}
}
