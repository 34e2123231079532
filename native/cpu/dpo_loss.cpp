// dpo_loss.cpp: the per-pair DPO losses and their gradients. Inputs are per-pair sums of
// token log-probs: pc/pr of the policy on the chosen/rejected answer, rc/rr of the frozen
// reference. With h = (pc - rc) - (pr - rr), x = beta * h, e = label_smoothing:
//   kind 0 sigmoid (DPO, cDPO when e > 0):  loss = -(1-e) log sigmoid(x) - e log sigmoid(-x)
//   kind 1 ipo:                             loss = (h - 1/(2 beta))^2
//   kind 2 robust (rDPO):                   loss = (-(1-e) log sigmoid(x) + e log sigmoid(-x)) / (1-2e)
// grad_pc = dloss/dh, grad_pr = -dloss/dh (per pair, not divided by the pair count: the caller
// scales by 1/pairs of the whole step). The reference is frozen, so its gradients are not formed.
//
// Everything is computed in double (a batch has a few pairs, so this costs nothing) with
// -log sigmoid(x) = softplus(-x) = max(-x, 0) + log1p(exp(-|x|)), which neither overflows
// nor loses the small tail for large |x|. The sigmoid loss uses the identity
// softplus(x) - softplus(-x) = x: loss = softplus(-x) + e x, so at h = 0 it is exactly
// log1p(1) = ln 2 for any e. An unknown kind yields NaN: the caller validates it.
#include "common.h"

#include <limits>

namespace {

double softplus(double z) { return (z > 0 ? z : 0.0) + std::log1p(std::exp(-std::fabs(z))); }

double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
    double ez = std::exp(z);
    return ez / (1.0 + ez);
}

template <typename T>
void dpo_loss(T* loss, T* grad_pc, T* grad_pr, const T* pc, const T* pr, const T* rc, const T* rr, int64_t pairs,
              double beta, double e, int32_t kind) {
    for (int64_t i = 0; i < pairs; i++) {
        double h = ((double)pc[i] - (double)rc[i]) - ((double)pr[i] - (double)rr[i]);
        double x = beta * h;
        double l, dh;
        switch (kind) {
        case 0:
            l = softplus(-x) + e * x;
            // dl/dx = -(1-e) sigmoid(-x) + e sigmoid(x) = e - sigmoid(-x)
            dh = beta * (e - sigmoid(-x));
            break;
        case 1: {
            double d = h - 1.0 / (2.0 * beta);
            l = d * d;
            dh = 2.0 * d;
            break;
        }
        case 2:
            l = ((1.0 - e) * softplus(-x) - e * softplus(x)) / (1.0 - 2.0 * e);
            // dl/dx = (-(1-e) sigmoid(-x) - e sigmoid(x)) / (1-2e)
            dh = beta * (-(1.0 - e) * sigmoid(-x) - e * sigmoid(x)) / (1.0 - 2.0 * e);
            break;
        default:
            l = dh = std::numeric_limits<double>::quiet_NaN();
        }
        loss[i] = (T)l;
        grad_pc[i] = (T)dh;
        grad_pr[i] = (T)-dh;
    }
}

}  // namespace

extern "C" {
void fsr_dpo_loss_f32(float* loss, float* grad_pc, float* grad_pr, const float* pc, const float* pr, const float* rc,
                      const float* rr, int64_t pairs, double beta, double label_smoothing, int32_t kind) {
    dpo_loss(loss, grad_pc, grad_pr, pc, pr, rc, rr, pairs, beta, label_smoothing, kind);
}
void fsr_dpo_loss_f64(double* loss, double* grad_pc, double* grad_pr, const double* pc, const double* pr,
                      const double* rc, const double* rr, int64_t pairs, double beta, double label_smoothing,
                      int32_t kind) {
    dpo_loss(loss, grad_pc, grad_pr, pc, pr, rc, rr, pairs, beta, label_smoothing, kind);
}
}
