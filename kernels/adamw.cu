// adamw.cu: one decoupled AdamW step over a flat fp32 parameter range of count values. Same math
// as native/cpu/adamw.cpp:
//   g = grad * grad_scale                  (grad_scale carries gradient clipping)
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weight_decay * p )
// Parameters (the master weights), gradients and both moments are fp32, as in llm.c: bf16
// moments or master weights would lose small updates to rounding. The host computes 1-b1, 1-b2
// and the bias-correction reciprocals in double and rounds them to float once, exactly the
// constants the CPU loop uses, so the two differ only by fused multiply-adds.
//
// Launch: grid (min(ceil(count/1024), 4096)), block 256; grid-stride loops over 64-bit indices.
// Why fast: a pure memory stream of 4 reads and 3 writes per value with nothing to reuse, so the
// only goal is full-width traffic: 16-byte loads and stores (4 values) when all four pointers are
// aligned, which whole buffers and the layout table's ranges are; a scalar loop for the rest.
#include "common/common.cuh"

namespace adamw {

struct Constants {
    float lr, b1, b2, one_b1, one_b2, inv_bc1, inv_bc2, eps, wd, gs;
};

__device__ __forceinline__ void update(const Constants& c, float grad, float& m, float& v, float& p) {
    const float g = grad * c.gs;
    m = c.b1 * m + c.one_b1 * g;
    v = c.b2 * v + c.one_b2 * g * g;
    p = p - c.lr * ((m * c.inv_bc1) / (sqrtf(v * c.inv_bc2) + c.eps) + c.wd * p);
}

}  // namespace adamw

extern "C" __global__ void adamw_f32(float* param, const float* grad, float* m, float* v, long long count, float lr,
        float beta1, float beta2, float one_minus_beta1, float one_minus_beta2, float inv_bias1, float inv_bias2, float eps,
        float weight_decay, float grad_scale) {
    using Pack = fsr::Pack16<float>;
    const adamw::Constants c{lr, beta1, beta2, one_minus_beta1, one_minus_beta2, inv_bias1, inv_bias2, eps, weight_decay, grad_scale};
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long packs = fsr::aligned16(param, grad) && fsr::aligned16(m, v) ? count / Pack::N : 0;
    for (long long p = first; p < packs; p += stride) {
        const Pack g = reinterpret_cast<const Pack*>(grad)[p];
        Pack mp = reinterpret_cast<const Pack*>(m)[p];
        Pack vp = reinterpret_cast<const Pack*>(v)[p];
        Pack pp = reinterpret_cast<const Pack*>(param)[p];
        #pragma unroll
        for (int k = 0; k < Pack::N; k++) adamw::update(c, g.v[k], mp.v[k], vp.v[k], pp.v[k]);
        reinterpret_cast<Pack*>(m)[p] = mp;
        reinterpret_cast<Pack*>(v)[p] = vp;
        reinterpret_cast<Pack*>(param)[p] = pp;
    }
    for (long long i = packs * Pack::N + first; i < count; i += stride) adamw::update(c, grad[i], m[i], v[i], param[i]);
}
FSR_REGISTER_KERNEL(adamw_f32)
