// token_logprobs.cpp: fused log-softmax + gather + gradient over a chunk of rows of
// logits [n, V], targets [n].
//   logp[i] = logits[i,t] - lse_i,  lse_i = log sum_j exp(logits[i,j]),  t = targets[i]
//   (0 where t < 0, a masked position). When grad_weights != NULL, logits is overwritten
//   with d/dlogits of sum_i grad_weights[i] * logp[i]:
//   dlogits[i,j] = grad_weights[i] * (1[j == t] - p_ij),  p_ij = exp(logits[i,j] - lse_i),
//   zero rows where t < 0.
// Cross-entropy is this with grad_weights = -mask / (loss tokens of the step); DPO uses
// the same kernel with the pair weights.
//
// Fused so the chunk is read at most three times (max, sum, gradient) and no probability
// buffer exists: the caller never holds [n, V] softmax and logits at once. The max is
// subtracted before exp (stable log-sum-exp); the sum of exponentials is blocked and the
// block sums accumulate in double, since V reaches 1e5 and one float running sum would lose
// ~log10(V) digits of lse. The gradient
// is written over the logits of its own row after lse is known, so in-place is safe.
// exp is fsr_exp (fast_exp.h): vectorizable, so the two exp passes run at memory speed;
// terms below e^-87 of the row maximum flush to 0, far below what the sum can resolve.
// Targets are validated by the caller (t < V); the kernel only trusts them.
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

#include <algorithm>
#include <limits>

namespace {

template <typename T>
void token_logprobs(T* logits, T* logp, const int32_t* targets, const T* grad_weights, int64_t n, int64_t V) {
    #pragma omp parallel for num_threads(fsr_threads()) if(n * V > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        T* row = logits + i * V;
        const int32_t t = targets[i];
        if (t < 0) {
            logp[i] = T(0);
            if (grad_weights != nullptr) {
                #pragma omp simd
                for (int64_t j = 0; j < V; j++) row[j] = T(0);
            }
            continue;
        }
        T mx = -std::numeric_limits<T>::infinity();
        #pragma omp simd reduction(max:mx)
        for (int64_t j = 0; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        // Blocks of 256 terms summed in T (vectorizes: each SIMD lane adds at most 256/width
        // terms of at most 1), block sums added in double (V reaches 1e5).
        double sum = 0.0;
        for (int64_t j0 = 0; j0 < V; j0 += 256) {
            const int64_t j1 = std::min(V, j0 + 256);
            T s = T(0);
            #pragma omp simd reduction(+:s)
            for (int64_t j = j0; j < j1; j++) s += fsr_exp(row[j] - mx);
            sum += (double)s;
        }
        const double lse = (double)mx + std::log(sum);
        logp[i] = (T)((double)row[t] - lse);
        if (grad_weights != nullptr) {
            const T w = grad_weights[i];
            // p = exp((l - max) - log(sum)): both terms are small, whereas l - lse in float
            // would round lse to the precision of the logits' magnitude.
            const T log_sum = (T)std::log(sum);
            #pragma omp simd
            for (int64_t j = 0; j < V; j++) row[j] = -w * fsr_exp((row[j] - mx) - log_sum);
            row[t] += w;
        }
    }
}

}  // namespace

extern "C" {
void fsr_token_logprobs_f32(float* logits, float* logp, const int32_t* targets, const float* grad_weights, int64_t n, int64_t V) {
    token_logprobs(logits, logp, targets, grad_weights, n, V);
}
void fsr_token_logprobs_f64(double* logits, double* logp, const int32_t* targets, const double* grad_weights, int64_t n,
                            int64_t V) {
    token_logprobs(logits, logp, targets, grad_weights, n, V);
}
}
