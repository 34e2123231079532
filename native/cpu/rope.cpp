// rope.cpp: rotary position embedding, in place on x [n, heads, head_dim], Hugging Face
// rotate-half pairing: for i < half = head_dim/2, dimensions i and i + half form a pair
// rotated by angle = positions[row] * inv_freq[i], the inverse frequencies computed by the host
// (theta^(-2i/head_dim), with Llama 3's scaling when the model has it: Model/RopeFrequencies.cs):
//   forward:  (x_i, x_{i+half}) <- (x_i cos - x_{i+half} sin, x_{i+half} cos + x_i sin)
//   backward: the transpose (inverse) rotation of the gradient, i.e. the forward with -sin.
//
// The angle is computed in double: positions reach tens of thousands and the slowest
// frequencies are ~1e-4, so a float angle would lose several digits before cos/sin. The
// cos/sin of a row are computed once, into stack tables
// (in chunks of 64 pairs, so any head_dim fits) shared by all heads of the row; the
// rotation itself then is two contiguous, vectorizable loops over the halves. Positions
// come from the caller because batches are ragged and packed: a row's position is not its
// index.
#include "common.h"
#include "parallel.h"

#include <algorithm>

namespace {

// sign = +1 forward, -1 backward.
template <typename T>
void rope_rotate(T* x, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim, double sign) {
    constexpr int64_t PB = 64;
    const int64_t half = head_dim / 2;
    for (int64_t p0 = 0; p0 < half; p0 += PB) {
        const int64_t pb = std::min(PB, half - p0);
        #pragma omp parallel for num_threads(fsr_threads()) if(n * heads * pb > FSR_PARALLEL_GRAIN) schedule(static)
        for (int64_t row = 0; row < n; row++) {
            const double pos = (double)positions[row];
            T cs[PB], sn[PB];
            for (int64_t p = 0; p < pb; p++) {
                double angle = pos * inv_freq[p0 + p];
                cs[p] = (T)std::cos(angle);
                sn[p] = (T)(sign * std::sin(angle));
            }
            for (int64_t h = 0; h < heads; h++) {
                T* lo = x + (row * heads + h) * head_dim + p0;
                T* hi = lo + half;
                #pragma omp simd
                for (int64_t p = 0; p < pb; p++) {
                    T a = lo[p], b = hi[p];
                    lo[p] = a * cs[p] - b * sn[p];
                    hi[p] = b * cs[p] + a * sn[p];
                }
            }
        }
    }
}

}  // namespace

extern "C" {
void fsr_rope_forward_f32(float* x, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim) {
    rope_rotate(x, positions, inv_freq, n, heads, head_dim, 1.0);
}
void fsr_rope_forward_f64(double* x, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim) {
    rope_rotate(x, positions, inv_freq, n, heads, head_dim, 1.0);
}
void fsr_rope_backward_f32(float* dx, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim) {
    rope_rotate(dx, positions, inv_freq, n, heads, head_dim, -1.0);
}
void fsr_rope_backward_f64(double* dx, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim) {
    rope_rotate(dx, positions, inv_freq, n, heads, head_dim, -1.0);
}
}
