// token_logprobs.cu: fused log-softmax + gather + gradient over a chunk of rows of logits [n, V],
// targets [n] int32. Same math as native/cpu/token_logprobs.cpp:
//   logp[i] = logits[i,t] - lse_i,  lse_i = log sum_j exp(logits[i,j]),  t = targets[i]
//   (0 where t < 0: a masked position). With grad_weights != nullptr the row is overwritten in
//   place with d(sum_i w_i logp_i)/dlogits:  dlogits[i,j] = w_i (1[j == t] - p_ij), zero rows
//   where t < 0.
// Storage: logits fp32 (_f32) or bf16 (_bf16, _bf16_bf16); logp and grad_weights fp32, or bf16 in
// _bf16_bf16 (a model that stores everything in bf16). Arithmetic fp32. Targets are trusted (< V).
//
// Launch: grid (n), one block per row, block a multiple of 32 threads (256 once V >= 256).
// Why fast: the row is read once for max and sum together (online softmax: each thread keeps a
// running max and a sum rescaled whenever the max grows), and once more for the gradient, which
// is written over the logits it came from: two passes over V instead of the CPU's three, and no
// probability buffer. Loads and stores are 16 bytes wide when V and the base allow. The
// (max, sum) pairs merge by a fixed butterfly and tree, so every run gives the same bits. The
// CPU sums in double; fp32 here costs at most a few ulp of lse at the vocabulary sizes used,
// which the parity tests bound.
#include "common/common.cuh"

namespace token_logprobs {

__device__ __forceinline__ float neg_inf() { return fsr::bits_float(0xff800000u); }

// Running softmax statistics: sum_j exp(x_j - m) over the columns seen so far.
struct Stats {
    float m;
    float s;
};

// s stays 0 until a finite column arrives, so an empty side contributes nothing (and never
// evaluates exp(-inf - -inf)).
__device__ __forceinline__ float rescale(float s, float from, float to) { return s == 0.0f ? 0.0f : s * expf(from - to); }

// Commutative bit for bit (max, then a sum of two terms), so a butterfly leaves every lane equal.
__device__ __forceinline__ Stats merge(Stats a, Stats b) {
    const float m = fmaxf(a.m, b.m);
    return {m, rescale(a.s, a.m, m) + rescale(b.s, b.m, m)};
}

__device__ __forceinline__ Stats add(Stats a, float x) {
    if (x > a.m) return {x, rescale(a.s, a.m, x) + 1.0f};
    if (x > neg_inf()) a.s += expf(x - a.m);
    return a;
}

__device__ __forceinline__ Stats warp_merge(Stats v) {
    #pragma unroll
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2)
        v = merge(v, {__shfl_xor_sync(0xffffffffu, v.m, offset), __shfl_xor_sync(0xffffffffu, v.s, offset)});
    return v;
}

__device__ __forceinline__ Stats block_merge(Stats v) {
    __shared__ float pm[fsr::kWarpSize], ps[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize;
    const int warp = threadIdx.x / fsr::kWarpSize;
    v = warp_merge(v);
    if (lane == 0) {
        pm[warp] = v.m;
        ps[warp] = v.s;
    }
    __syncthreads();
    const bool live = lane < (int)(blockDim.x / fsr::kWarpSize);
    return warp_merge({live ? pm[lane] : neg_inf(), live ? ps[lane] : 0.0f});
}

template <typename T, typename S, int W>
__device__ void row(T* logits, S* logp, const int* targets, const S* grad_weights, long long V) {
    using Vec = fsr::Vec<T, W>;
    const long long i = blockIdx.x;
    const int t = targets[i];
    Vec* x = reinterpret_cast<Vec*>(logits + i * V);
    const long long vectors = V / W;
    if (t < 0) {
        if (threadIdx.x == 0) fsr::store(&logp[i], 0.0f);
        if (grad_weights == nullptr) return;
        Vec zero;
        #pragma unroll
        for (int k = 0; k < W; k++) fsr::store(&zero.v[k], 0.0f);
        for (long long p = threadIdx.x; p < vectors; p += blockDim.x) x[p] = zero;
        return;
    }
    Stats st = {neg_inf(), 0.0f};
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        const Vec v = x[p];
        #pragma unroll
        for (int k = 0; k < W; k++) st = add(st, fsr::to_float(v.v[k]));
    }
    st = block_merge(st);
    const float log_sum = logf(st.s);
    // x_t - m and log_sum are both small, so their difference keeps the digits that
    // x_t - (m + log_sum) would round away when |m| is large.
    if (threadIdx.x == 0) fsr::store(&logp[i], (fsr::to_float(logits[i * V + t]) - st.m) - log_sum);
    if (grad_weights == nullptr) return;
    // Thread 0 reads logits[t] above; the thread that owns column t must not overwrite it first.
    __syncthreads();
    const float w = fsr::to_float(grad_weights[i]);
    for (long long p = threadIdx.x; p < vectors; p += blockDim.x) {
        Vec v = x[p];
        #pragma unroll
        for (int k = 0; k < W; k++) {
            float g = -w * expf((fsr::to_float(v.v[k]) - st.m) - log_sum);
            if (p * W + k == t) g += w;
            fsr::store(&v.v[k], g);
        }
        x[p] = v;
    }
}

template <typename T, typename S>
__device__ void dispatch(T* logits, S* logp, const int* targets, const S* grad_weights, long long V) {
    if (V % fsr::Pack16<T>::N == 0 && fsr::aligned16(logits)) row<T, S, fsr::Pack16<T>::N>(logits, logp, targets, grad_weights, V);
    else row<T, S, 1>(logits, logp, targets, grad_weights, V);
}

}  // namespace token_logprobs

extern "C" __global__ void __launch_bounds__(1024) token_logprobs_f32(float* logits, float* logp, const int* targets,
        const float* grad_weights, long long V) {
    token_logprobs::dispatch(logits, logp, targets, grad_weights, V);
}
FSR_REGISTER_KERNEL(token_logprobs_f32)

extern "C" __global__ void __launch_bounds__(1024) token_logprobs_bf16(fsr::bf16* logits, float* logp, const int* targets,
        const float* grad_weights, long long V) {
    token_logprobs::dispatch(logits, logp, targets, grad_weights, V);
}
FSR_REGISTER_KERNEL(token_logprobs_bf16)

extern "C" __global__ void __launch_bounds__(1024) token_logprobs_bf16_bf16(fsr::bf16* logits, fsr::bf16* logp,
        const int* targets, const fsr::bf16* grad_weights, long long V) {
    token_logprobs::dispatch(logits, logp, targets, grad_weights, V);
}
FSR_REGISTER_KERNEL(token_logprobs_bf16_bf16)
