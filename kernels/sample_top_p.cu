// sample_top_p.cu: temperature / top-p sampling of one token per row, without sorting, exactly as
// docs/design.md "Sampling" and native/cpu/sample_top_p.cpp define it. logits, probs [b, V]; uniforms,
// tokens [b]. Per row, with u = uniforms[r]:
//   temperature <= 0: tokens[r] = argmax_j logits[j], ties to the lowest id (probs untouched).
//   otherwise:        p_j = fsr_exp((x_j - max) / T) * (float)(1 / sum_j fsr_exp(...)), written to probs;
//                     tau = the largest float with sum_{p_j >= tau} p_j >= top_p (bisection over
//                     the bit patterns of non-negative floats, which are ordered like the values);
//                     kept = {j : p_j >= tau}, mass = sum_kept p_j (double);
//                     tokens[r] = the first kept j, in id order, whose running kept sum (double)
//                     reaches u * mass, or the last kept j if rounding leaves none.
// Storage: logits and probs fp32 (_f32) or bf16 (_bf16, _bf16_bf16); uniforms fp32, or bf16 in
// _bf16_bf16. p is computed in fp32 from the logits in every pass (probs is only an output), so
// bf16 probs never change the decision. top_p arrives as the bits of its double (parameters are
// pointers, long long, int and float only): the search compares double masses with it, as the CPU.
//
// Launch: grid (b), one block per row, block a multiple of 32 threads, at most 512. The bounds say
// (512, 1): with the block size alone, sm_80's ptxas aimed at 32 registers and spilled.
// Why fast: no sort and no scratch. Each step of the threshold search is one coalesced pass over
// the row and one block reduction; the row (V floats or bf16) stays in L1/L2 across the ~36
// passes, so after the first pass they cost arithmetic, not HBM traffic. The pick is a block-wide
// inclusive scan in id order over tiles of blockDim ids: a warp shuffle scan, then the warp totals
// in a fixed order, so the running sum has the same bits in the mass pass and in the pick pass.
// The exp is the CPU's fsr_exp (native/cpu/fast_exp.h) operation for operation, each rounded on its
// own (__fmul_rn / __fadd_rn / __fsub_rn, which NVRTC never fuses; the CPU and the emulator compile
// this sampler with -ffp-contract=off), so p has the CPU's bits and the same token comes out;
// double sums differ from the CPU's only in association (1e-16 relative).
#include "common/common.cuh"

namespace sample_top_p {

constexpr unsigned kFull = 0xffffffffu;

// native/cpu/fast_exp.h, fsr_exp<float>: Cody-Waite reduction and a degree-7 polynomial; results
// below e^-87 flush to 0. Every product and sum rounded on its own, as the CPU computes it.
__device__ __forceinline__ float mul_add(float a, float b, float c) { return __fadd_rn(__fmul_rn(a, b), c); }

__device__ __forceinline__ float fast_exp(float x) {
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    const float k = __fsub_rn(mul_add(xc, 1.44269504088896341f, 12582912.0f), 12582912.0f);
    float r = __fsub_rn(xc, __fmul_rn(k, 0.693359375f));
    r = __fsub_rn(r, __fmul_rn(k, -2.12194440e-4f));
    float p = 1.9875691500e-4f;
    p = mul_add(p, r, 1.3981999507e-3f);
    p = mul_add(p, r, 8.3334519073e-3f);
    p = mul_add(p, r, 4.1665795894e-2f);
    p = mul_add(p, r, 1.6666665459e-1f);
    p = mul_add(p, r, 5.0000001201e-1f);
    p = __fadd_rn(mul_add(__fmul_rn(p, r), r, r), 1.0f);
    const float two_k = fsr::bits_float((unsigned)((int)k + 127) << 23);
    const unsigned keep = x >= -87.0f ? 0xffffffffu : 0u;
    return fsr::bits_float(fsr::float_bits(p * two_k) & keep);
}

__device__ __forceinline__ double warp_sum(double v) {
    #pragma unroll
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFull, v, offset);
    return v;
}

// Fixed tree, every thread gets the total; the leading barrier allows back-to-back calls.
__device__ double block_sum(double v) {
    __shared__ double partial[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    return warp_sum(lane < (int)(blockDim.x / fsr::kWarpSize) ? partial[lane] : 0.0);
}

__device__ float block_max(float v) {
    __shared__ float partial[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(kFull, v, offset));
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / fsr::kWarpSize) ? partial[lane] : partial[0];
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(kFull, v, offset));
    return v;
}

// The larger value, ties to the lower id: the CPU's strict > scan in id order.
__device__ __forceinline__ void arg_better(float& v, long long& j, float ov, long long oj) {
    if (ov > v || (ov == v && oj < j)) {
        v = ov;
        j = oj;
    }
}

__device__ long long block_argmax(float v, long long j) {
    __shared__ float pv[fsr::kWarpSize];
    __shared__ long long pj[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2)
        arg_better(v, j, __shfl_xor_sync(kFull, v, offset), __shfl_xor_sync(kFull, j, offset));
    if (lane == 0) {
        pv[warp] = v;
        pj[warp] = j;
    }
    __syncthreads();
    const bool live = lane < (int)(blockDim.x / fsr::kWarpSize);
    v = live ? pv[lane] : pv[0];
    j = live ? pj[lane] : pj[0];
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2)
        arg_better(v, j, __shfl_xor_sync(kFull, v, offset), __shfl_xor_sync(kFull, j, offset));
    return j;
}

__device__ long long block_min(long long v) {
    __shared__ long long partial[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) {
        const long long o = __shfl_xor_sync(kFull, v, offset);
        v = o < v ? o : v;
    }
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / fsr::kWarpSize) ? partial[lane] : partial[0];
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) {
        const long long o = __shfl_xor_sync(kFull, v, offset);
        v = o < v ? o : v;
    }
    return v;
}

// p_j, recomputed identically in every pass.
struct Softmax {
    float max, temperature, inv;
    __device__ __forceinline__ float operator()(float x) const { return fast_exp((x - max) / temperature) * inv; }
};

constexpr long long kNone = 0x7fffffffffffffffLL;

// One pass in id order over tiles of blockDim ids: returns the first kept id whose running kept
// sum reaches target (kNone if none) and leaves the kept mass so far in carry. The association
// of the running sum (carry, then warp totals in order, then the in-warp scan) does not depend
// on target, so the mass pass and the pick pass see the same bits.
template <typename T>
__device__ long long scan(const T* x, long long V, Softmax sm, float tau, double target, double& carry) {
    __shared__ double warp_total[fsr::kWarpSize];
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const int warps = blockDim.x / fsr::kWarpSize;
    for (long long base = 0; base < V; base += blockDim.x) {
        const long long j = base + threadIdx.x;
        const float p = j < V ? sm(fsr::to_float(x[j])) : 0.0f;
        const bool kept = j < V && p >= tau;
        double run = kept ? (double)p : 0.0;
        #pragma unroll
        for (int offset = 1; offset < fsr::kWarpSize; offset *= 2) {
            const double up = __shfl_up_sync(kFull, run, offset);
            if (lane >= offset) run += up;
        }
        __syncthreads();  // the previous tile's reads of warp_total are done
        if (lane == fsr::kWarpSize - 1) warp_total[warp] = run;
        __syncthreads();
        double before = carry;
        for (int w = 0; w < warp; w++) before += warp_total[w];
        run += before;
        for (int w = 0; w < warps; w++) carry += warp_total[w];
        const long long hit = block_min(kept && run >= target ? j : kNone);
        if (hit != kNone) return hit;
    }
    return kNone;
}

template <typename T, typename U>
__device__ void sample(int* tokens, T* probs, const T* logits, const U* uniforms, long long V, float temperature,
                       long long top_p_bits) {
    const long long r = blockIdx.x;
    const T* x = logits + r * V;
    if (!(temperature > 0.0f)) {
        float best = fsr::to_float(x[0]);
        long long at = 0;
        for (long long j = threadIdx.x; j < V; j += blockDim.x) arg_better(best, at, fsr::to_float(x[j]), j);
        const long long j = block_argmax(best, at);
        if (threadIdx.x == 0) tokens[r] = (int)j;
        return;
    }
    float mx = fsr::to_float(x[0]);
    for (long long j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, fsr::to_float(x[j]));
    Softmax sm = {block_max(mx), temperature, 1.0f};
    double total = 0.0;
    for (long long j = threadIdx.x; j < V; j += blockDim.x) total += (double)sm(fsr::to_float(x[j]));
    sm.inv = (float)(1.0 / block_sum(total));
    T* pr = probs + r * V;
    float pmax = 0.0f;
    for (long long j = threadIdx.x; j < V; j += blockDim.x) {
        const float p = sm(fsr::to_float(x[j]));
        fsr::store(&pr[j], p);
        pmax = fmaxf(pmax, p);
    }
    pmax = block_max(pmax);

    const double top_p = fsr::bits_double(top_p_bits);
    unsigned lo = 1;  // the smallest positive float: its mass is the whole distribution
    if (top_p < 1.0) {
        unsigned hi = fsr::float_bits(pmax) + 1;  // nothing is >= hi
        while (hi - lo > 1) {
            const unsigned mid = lo + (hi - lo) / 2;
            double mass = 0.0;
            for (long long j = threadIdx.x; j < V; j += blockDim.x) {
                const float p = sm(fsr::to_float(x[j]));
                if (fsr::float_bits(p) >= mid) mass += (double)p;
            }
            if (block_sum(mass) >= top_p) lo = mid;
            else hi = mid;
        }
    }
    const float tau = fsr::bits_float(lo);

    double mass = 0.0;
    scan(x, V, sm, tau, fsr::bits_double(0x7ff0000000000000LL), mass);  // +inf: never reached
    long long last = -1;
    for (long long j = threadIdx.x; j < V; j += blockDim.x)
        if (sm(fsr::to_float(x[j])) >= tau) last = j;
    last = -block_min(-last);
    double run = 0.0;
    const long long hit = scan(x, V, sm, tau, (double)fsr::to_float(uniforms[r]) * mass, run);
    if (threadIdx.x == 0) tokens[r] = (int)(hit != kNone ? hit : last);
}

}  // namespace sample_top_p

extern "C" __global__ void __launch_bounds__(512, 1) sample_top_p_f32(int* tokens, float* probs, const float* logits,
        const float* uniforms, long long V, float temperature, long long top_p_bits) {
    sample_top_p::sample(tokens, probs, logits, uniforms, V, temperature, top_p_bits);
}
FSR_REGISTER_KERNEL(sample_top_p_f32)

extern "C" __global__ void __launch_bounds__(512, 1) sample_top_p_bf16(int* tokens, fsr::bf16* probs, const fsr::bf16* logits,
        const float* uniforms, long long V, float temperature, long long top_p_bits) {
    sample_top_p::sample(tokens, probs, logits, uniforms, V, temperature, top_p_bits);
}
FSR_REGISTER_KERNEL(sample_top_p_bf16)

extern "C" __global__ void __launch_bounds__(512, 1) sample_top_p_bf16_bf16(int* tokens, fsr::bf16* probs,
        const fsr::bf16* logits, const fsr::bf16* uniforms, long long V, float temperature, long long top_p_bits) {
    sample_top_p::sample(tokens, probs, logits, uniforms, V, temperature, top_p_bits);
}
FSR_REGISTER_KERNEL(sample_top_p_bf16_bf16)
