// sample_top_p.cpp: temperature and top-p (nucleus) sampling of one token per row, without
// sorting, exactly as docs/design.md "Sampling" defines it for every backend.
//   logits, probs [b, V];  uniforms, tokens [b].  Per row, with u = uniforms[r]:
//   temperature <= 0: tokens[r] = argmax_j logits[j], ties to the lowest id (probs untouched).
//   otherwise:        p = softmax(logits / temperature), written to probs;
//                     tau = the largest value with sum_{p_j >= tau} p_j >= top_p;
//                     kept = {j : p_j >= tau}, mass = sum_kept p_j (double, id order);
//                     tokens[r] = the first kept j (id order) whose running kept sum reaches
//                     u * mass, or the last kept j if rounding leaves none.
//
// Finding tau: for non-negative IEEE values the bit patterns, read as unsigned integers, are
// ordered like the values, and the kept mass can only shrink as the threshold grows. So tau
// is found by bisection over the patterns between the smallest positive value and the
// largest p: each step is one pass over the row summing the p_j >= mid. The largest
// threshold that still keeps top_p of the mass is always one of the p values, so the kept
// set is exact, and no sort, no scratch beyond probs and no allocation is needed. tau never
// goes below the smallest positive pattern, so a token with p == 0 is never kept: top_p >= 1
// (no search) and a top_p the total mass cannot reach (rounding) both keep every p > 0.
// These bisection sums are vectorized (double accumulators, reassociated), they only decide
// the search; the mass and the running sum that pick the token are accumulated in id order.
//
// Cost per row: one pass for the max, one for exp and the sum, one to normalize, about 31
// bisection passes in f32 (about 62 in f64, used only by tests), and two ordered passes for
// the mass and the pick: about 36 passes over V. At V = 8192 a pass is a few microseconds at
// most, so a row costs tens of microseconds, small next to the LM-head GEMM that produced
// its logits. Rows are independent and run in parallel; one row runs on one thread (the
// passes are too short to share across threads).
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

#include <cstring>

namespace {

template <typename T> struct Bits;
template <> struct Bits<float> { using U = uint32_t; };
template <> struct Bits<double> { using U = uint64_t; };

template <typename T>
inline T from_bits(typename Bits<T>::U u) {
    T x;
    std::memcpy(&x, &u, sizeof(T));
    return x;
}

template <typename T>
inline typename Bits<T>::U to_bits(T x) {
    typename Bits<T>::U u;
    std::memcpy(&u, &x, sizeof(T));
    return u;
}

// sum_{p_j >= t} p_j, comparing bit patterns. The condition is a 0/1 factor rather than a
// conditional expression: under the default -ftrapping-math the compiler keeps a
// conversion that sits under a condition as a branch, and the loop scalar.
template <typename T>
inline double mass_at_least(const T* __restrict p, int64_t V, typename Bits<T>::U t) {
    double s = 0.0;
    #pragma omp simd reduction(+:s)
    for (int64_t j = 0; j < V; j++) s += (double)p[j] * (double)(to_bits(p[j]) >= t);
    return s;
}

template <typename T>
int32_t sample_row(T* __restrict p, const T* __restrict x, double u, int64_t V, double temperature, double top_p) {
    if (!(temperature > 0.0)) {
        int64_t best = 0;
        for (int64_t j = 1; j < V; j++)
            if (x[j] > x[best]) best = j;
        return (int32_t)best;
    }

    T mx = x[0];
    #pragma omp simd reduction(max:mx)
    for (int64_t j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    const T temp = (T)temperature;
    double total = 0.0;
    #pragma omp simd reduction(+:total)
    for (int64_t j = 0; j < V; j++) {
        p[j] = fsr_exp((x[j] - mx) / temp);
        total += (double)p[j];
    }
    const T inv = (T)(1.0 / total);
    T pmax = T(0);
    #pragma omp simd reduction(max:pmax)
    for (int64_t j = 0; j < V; j++) {
        p[j] *= inv;
        pmax = p[j] > pmax ? p[j] : pmax;
    }

    using U = typename Bits<T>::U;
    U lo = 1;  // the smallest positive value: mass(lo) is the whole distribution
    if (top_p < 1.0) {
        U hi = to_bits(pmax) + 1;  // nothing is >= hi, so mass(hi) = 0 < top_p
        while (hi - lo > 1) {
            const U mid = lo + (hi - lo) / 2;
            if (mass_at_least(p, V, mid) >= top_p) lo = mid;
            else hi = mid;
        }
    }
    const T tau = from_bits<T>(lo);

    double mass = 0.0;
    for (int64_t j = 0; j < V; j++)
        if (p[j] >= tau) mass += (double)p[j];
    const double target = u * mass;
    double run = 0.0;
    int64_t last = -1;
    for (int64_t j = 0; j < V; j++) {
        if (p[j] >= tau) {
            run += (double)p[j];
            if (run >= target) return (int32_t)j;
            last = j;
        }
    }
    return (int32_t)last;
}

template <typename T>
void sample_top_p(int32_t* tokens, T* probs, const T* logits, const T* uniforms, int64_t b, int64_t V,
                  double temperature, double top_p) {
    #pragma omp parallel for num_threads(fsr_threads()) if(b > 1 && b * V > FSR_PARALLEL_GRAIN) schedule(dynamic, 1)
    for (int64_t r = 0; r < b; r++)
        tokens[r] = sample_row(probs + r * V, logits + r * V, (double)uniforms[r], V, temperature, top_p);
}

}  // namespace

extern "C" {

void fsr_sample_top_p_f32(int32_t* tokens, float* probs, const float* logits, const float* uniforms,
                          int64_t b, int64_t V, double temperature, double top_p) {
    sample_top_p(tokens, probs, logits, uniforms, b, V, temperature, top_p);
}
void fsr_sample_top_p_f64(int32_t* tokens, double* probs, const double* logits, const double* uniforms,
                          int64_t b, int64_t V, double temperature, double top_p) {
    sample_top_p(tokens, probs, logits, uniforms, b, V, temperature, top_p);
}

}
