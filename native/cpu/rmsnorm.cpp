// rmsnorm.cpp: RMSNorm (Llama) over rows of x [n, C], weight w [C], rstd [n] saved for the
// backward.
//   forward:  rstd[i] = 1/sqrt(mean_j x[i,j]^2 + eps);  out[i,j] = x[i,j] * rstd[i] * w[j]
//   backward: with g[i,j] = dout[i,j] * w[j] and r = rstd[i],
//             dx[i,j] = r * g[i,j] - x[i,j] * r^3 / C * sum_k g[i,k] x[i,k]     (overwrite)
//             dw[j]  += sum_i dout[i,j] * x[i,j] * r_i                         (accumulate)
//
// Row sums accumulate in double even for f32: a row is a few thousand values, the
// float->double conversion vectorizes at almost no cost next to the memory traffic, and the
// result (rstd, and the dot product of the backward) then carries no length-dependent
// rounding. Rows run in parallel for out and dx. dw sums over rows, so it is parallel over
// column blocks instead: each thread walks all rows in order for its own columns, in a
// double accumulator on the stack, which gives the same bits for any thread count and no
// races.
#include "common.h"
#include "parallel.h"

#include <algorithm>

namespace {

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t C, double eps) {
    #pragma omp parallel for num_threads(fsr_threads()) if(n * C > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const T* xi = x + i * C;
        double ss = 0.0;
        #pragma omp simd reduction(+:ss)
        for (int64_t j = 0; j < C; j++) ss += (double)xi[j] * (double)xi[j];
        double r = 1.0 / std::sqrt(ss / (double)C + eps);
        rstd[i] = (T)r;
        T rt = (T)r;
        T* oi = out + i * C;
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) oi[j] = xi[j] * rt * w[j];
    }
}

template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n, int64_t C) {
    #pragma omp parallel for num_threads(fsr_threads()) if(n * C > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const T* xi = x + i * C;
        const T* di = dout + i * C;
        double dot = 0.0;
        #pragma omp simd reduction(+:dot)
        for (int64_t j = 0; j < C; j++) dot += (double)di[j] * (double)w[j] * (double)xi[j];
        double r = (double)rstd[i];
        T rt = (T)r;
        T coef = (T)(dot * r * r * r / (double)C);
        T* dxi = dx + i * C;
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) dxi[j] = rt * di[j] * w[j] - coef * xi[j];
    }

    // 64 double accumulators: 512 bytes of stack, and enough blocks to spread C = 512
    // over 8 threads.
    constexpr int64_t CB = 64;
    int64_t blocks = (C + CB - 1) / CB;
    #pragma omp parallel for num_threads(fsr_threads()) if(n * C > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t j0 = b * CB, width = std::min(CB, C - j0);
        double acc[CB] = {};
        for (int64_t i = 0; i < n; i++) {
            const T* xi = x + i * C + j0;
            const T* di = dout + i * C + j0;
            double r = (double)rstd[i];
            #pragma omp simd
            for (int64_t j = 0; j < width; j++) acc[j] += (double)di[j] * (double)xi[j] * r;
        }
        for (int64_t j = 0; j < width; j++) dw[j0 + j] += (T)acc[j];
    }
}

}  // namespace

extern "C" {
void fsr_rmsnorm_forward_f32(float* out, float* rstd, const float* x, const float* w, int64_t n, int64_t C, double eps) {
    rmsnorm_forward(out, rstd, x, w, n, C, eps);
}
void fsr_rmsnorm_forward_f64(double* out, double* rstd, const double* x, const double* w, int64_t n, int64_t C, double eps) {
    rmsnorm_forward(out, rstd, x, w, n, C, eps);
}
void fsr_rmsnorm_backward_f32(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* rstd,
                              int64_t n, int64_t C) {
    rmsnorm_backward(dx, dw, dout, x, w, rstd, n, C);
}
void fsr_rmsnorm_backward_f64(double* dx, double* dw, const double* dout, const double* x, const double* w,
                              const double* rstd, int64_t n, int64_t C) {
    rmsnorm_backward(dx, dw, dout, x, w, rstd, n, C);
}
}
