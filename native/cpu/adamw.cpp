// adamw.cpp: one decoupled AdamW step over a flat parameter range of count values.
//   g = grad * grad_scale                  (grad_scale carries gradient clipping)
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weight_decay * p )
//
// Parameters, gradients and both moments live in flat buffers (one layout table), so the
// whole model is one call, or one call per range with its own weight decay (norms and
// biases usually get none). A pure memory stream of 4 reads and 3 writes per value, so
// the bias corrections are hoisted to reciprocals computed once in double and the loop is
// left for the compiler to vectorize; threads split the range statically.
#include "common.h"
#include "parallel.h"

namespace {

template <typename T>
void adamw(T* param, const T* grad, T* m, T* v, int64_t count, double lr, double beta1, double beta2, double eps,
           double weight_decay, double grad_scale, int64_t step) {
    const T b1 = (T)beta1, b2 = (T)beta2, one_b1 = (T)(1.0 - beta1), one_b2 = (T)(1.0 - beta2);
    const T inv_bc1 = (T)(1.0 / (1.0 - std::pow(beta1, (double)step)));
    const T inv_bc2 = (T)(1.0 / (1.0 - std::pow(beta2, (double)step)));
    const T lr_t = (T)lr, eps_t = (T)eps, wd = (T)weight_decay, gs = (T)grad_scale;
    #pragma omp parallel for simd num_threads(fsr_threads()) if(count > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        T g = grad[i] * gs;
        T mi = b1 * m[i] + one_b1 * g;
        T vi = b2 * v[i] + one_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        T p = param[i];
        param[i] = p - lr_t * ((mi * inv_bc1) / (std::sqrt(vi * inv_bc2) + eps_t) + wd * p);
    }
}

}  // namespace

extern "C" {
void fsr_adamw_f32(float* param, const float* grad, float* m, float* v, int64_t count, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double grad_scale, int64_t step) {
    adamw(param, grad, m, v, count, lr, beta1, beta2, eps, weight_decay, grad_scale, step);
}
void fsr_adamw_f64(double* param, const double* grad, double* m, double* v, int64_t count, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double grad_scale, int64_t step) {
    adamw(param, grad, m, v, count, lr, beta1, beta2, eps, weight_decay, grad_scale, step);
}
}
