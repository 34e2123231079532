// grad_norm.cpp: the global gradient norm that clipping needs.
//   fsr_sum_squares: sum_i x_i^2 over count values, in double; the caller adds the sums of
//                    all gradient ranges and takes the square root (AdamW applies the clip).
//
// The clipping decision depends on the norm, so the sum must not change with the thread
// count: an OpenMP reduction adds per-thread partials in an order set by the team size.
// Instead the range is cut into a fixed number of chunks (independent of the thread
// count), each summed on its own in double, and the partials, kept on the stack, are
// added in chunk order.
#include "common.h"
#include "parallel.h"

#include <algorithm>

namespace {

template <typename T>
double sum_squares(const T* x, int64_t count) {
    constexpr int64_t CHUNKS = 256;
    if (count <= 0) return 0.0;
    const int64_t chunk = (count + CHUNKS - 1) / CHUNKS;
    double partial[CHUNKS] = {};
    #pragma omp parallel for num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t c = 0; c < CHUNKS; c++) {
        const int64_t lo = std::min(count, c * chunk), hi = std::min(count, lo + chunk);
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (int64_t i = lo; i < hi; i++) s += (double)x[i] * (double)x[i];
        partial[c] = s;
    }
    double total = 0.0;
    for (int64_t c = 0; c < CHUNKS; c++) total += partial[c];
    return total;
}

}  // namespace

extern "C" {
double fsr_sum_squares_f32(const float* x, int64_t count) { return sum_squares(x, count); }
double fsr_sum_squares_f64(const double* x, int64_t count) { return sum_squares(x, count); }
}
