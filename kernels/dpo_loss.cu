// dpo_loss.cu: the per-pair DPO losses and their gradients. Same math as native/cpu/dpo_loss.cpp.
// Inputs are per-pair sums of token log-probs: pc/pr of the policy on the chosen/rejected answer,
// rc/rr of the frozen reference. With h = (pc - rc) - (pr - rr), x = beta h, e = label_smoothing:
//   kind 0 sigmoid (DPO, cDPO when e > 0):  loss = -(1-e) log sigmoid(x) - e log sigmoid(-x)
//   kind 1 ipo:                             loss = (h - 1/(2 beta))^2
//   kind 2 robust (rDPO):                   loss = (-(1-e) log sigmoid(x) + e log sigmoid(-x)) / (1-2e)
// grad_pc = dloss/dh, grad_pr = -dloss/dh (per pair; the caller scales by 1/pairs of the whole
// step; the frozen reference gets no gradient). All buffers [pairs], fp32 (_f32) or bf16 (_bf16); beta and e arrive
// as the bits of the host's doubles; the kind is validated on the host (an unknown one yields NaN,
// as on the CPU).
//
// Everything is computed in double, with -log sigmoid(x) = softplus(-x) = max(-x, 0) +
// log1p(exp(-|x|)), which neither overflows nor loses the small tail for large |x|; the sigmoid
// loss uses softplus(x) - softplus(-x) = x, so it is exactly ln 2 at h = 0 for any e.
//
// Launch: grid (ceil(pairs/256)), block 256, one thread per pair.
// Why this way: a batch has a few pairs, so the cost is the launch; double arithmetic keeps the
// result within a rounding of the CPU's and avoids a host round trip of the log-probs.
#include "common/common.cuh"

namespace dpo_loss {

__device__ __forceinline__ double softplus(double z) { return (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z))); }

__device__ __forceinline__ double sigmoid(double z) {
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    const double ez = exp(z);
    return ez / (1.0 + ez);
}

template <typename T>
__device__ void loss_and_gradients(T* loss, T* grad_pc, T* grad_pr, const T* pc, const T* pr, const T* rc, const T* rr,
        long long pairs, double beta, double e, int kind) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pairs) return;
    const double h = ((double)fsr::to_float(pc[i]) - (double)fsr::to_float(rc[i])) -
                     ((double)fsr::to_float(pr[i]) - (double)fsr::to_float(rr[i]));
    const double x = beta * h;
    double l, dh;
    switch (kind) {
    case 0:
        l = softplus(-x) + e * x;
        // dl/dx = -(1-e) sigmoid(-x) + e sigmoid(x) = e - sigmoid(-x)
        dh = beta * (e - sigmoid(-x));
        break;
    case 1: {
        const double d = h - 1.0 / (2.0 * beta);
        l = d * d;
        dh = 2.0 * d;
        break;
    }
    case 2:
        l = ((1.0 - e) * softplus(-x) - e * softplus(x)) / (1.0 - 2.0 * e);
        dh = beta * (-(1.0 - e) * sigmoid(-x) - e * sigmoid(x)) / (1.0 - 2.0 * e);
        break;
    default:
        l = dh = fsr::bits_double(0x7ff8000000000000LL);  // quiet NaN
    }
    fsr::store(loss + i, (float)l);
    fsr::store(grad_pc + i, (float)dh);
    fsr::store(grad_pr + i, (float)-dh);
}

}  // namespace dpo_loss

extern "C" __global__ void dpo_loss_f32(float* loss, float* grad_pc, float* grad_pr, const float* pc, const float* pr,
        const float* rc, const float* rr, long long pairs, long long beta_bits, long long label_smoothing_bits, int kind) {
    dpo_loss::loss_and_gradients(loss, grad_pc, grad_pr, pc, pr, rc, rr, pairs, fsr::bits_double(beta_bits),
        fsr::bits_double(label_smoothing_bits), kind);
}
FSR_REGISTER_KERNEL(dpo_loss_f32)

extern "C" __global__ void dpo_loss_bf16(fsr::bf16* loss, fsr::bf16* grad_pc, fsr::bf16* grad_pr, const fsr::bf16* pc,
        const fsr::bf16* pr, const fsr::bf16* rc, const fsr::bf16* rr, long long pairs, long long beta_bits,
        long long label_smoothing_bits, int kind) {
    dpo_loss::loss_and_gradients(loss, grad_pc, grad_pr, pc, pr, rc, rr, pairs, fsr::bits_double(beta_bits),
        fsr::bits_double(label_smoothing_bits), kind);
}
FSR_REGISTER_KERNEL(dpo_loss_bf16)
