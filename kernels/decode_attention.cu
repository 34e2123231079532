// decode_attention.cu: one query token per row over that row's paged KV cache (the current
// token included), grouped-query. Same math as native/cpu/decode_attention.cpp:
//   q, out [b, H, hd];  k_cache, v_cache [num_blocks, block_size, KVH, hd];
//   row r's tokens t < lengths[r] sit at slot block_tables[r * max_blocks + t / block_size]
//   * block_size + t % block_size;  out_rh = softmax_t(scale q_rh.k_t) v_t with k, v of kv head
//   h / (H / KVH). A row of length 0 gets zeros.
// Storage of q, caches, out: fp32 (_f32) or bf16 (_bf16); arithmetic fp32. head_dim up to 128,
// compiled for a padded width HD = 32, 64 or 128 (the _32/_64/_128 suffix).
//
// Launch: grid (b, H), 128 threads (4 warps), no dynamic shared memory.
// Why fast: decoding is bound by reading the cache, so the reads are what is arranged: warp w
// takes the tiles of 32 tokens w, w + 4, ..., and for each token the 32 lanes read its key and
// value rows contiguously (lane = dimensions lane + 32 c), one coalesced load per row, with the
// block table entry loaded once per token by the whole warp. Each warp keeps its own online
// softmax (running max, sum and rescaled output), so the four warps stream disjoint parts of
// the context in parallel; they are merged at the end in a fixed order, each partial weighted
// by exp(m_w - max_w m_w), which is numerically stable and deterministic.
#include "common/common.cuh"

namespace decode_attention {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * fsr::kWarpSize;
constexpr int kTile = fsr::kWarpSize;  // tokens per tile: one score per lane

// -inf without math.h, which NVRTC does not provide.
__device__ __forceinline__ float neg_inf() { return fsr::bits_float(0xff800000u); }

__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// exp(m - mmax), the weight of a warp's partial in the merge; 0 for a warp that saw no token.
// Recomputed where used rather than kept in an array, which ptxas would put in local memory.
__device__ __forceinline__ float merge_weight(float m, float mmax) { return m == neg_inf() ? 0.0f : expf(m - mmax); }

template <typename T, int HD>
__device__ void decode(T* out, const T* q, const T* k_cache, const T* v_cache, const int* block_tables,
                       long long max_blocks, const int* lengths, int H, int KVH, int hd, int block_size,
                       float scale) {
    constexpr int C = HD / fsr::kWarpSize;
    __shared__ float ms[kWarps], ls[kWarps], os[kWarps * HD];
    const long long r = blockIdx.x;
    const int h = blockIdx.y, kvh = h / (H / KVH);
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const long long slot_stride = (long long)KVH * hd;
    const int* table = block_tables + r * max_blocks;
    const long long len = lengths[r];
    const unsigned bs = (unsigned)block_size;

    float qv[C], acc[C];
    #pragma unroll
    for (int c = 0; c < C; c++) {
        const int d = lane + c * fsr::kWarpSize;
        qv[c] = d < hd ? fsr::to_float(q[(r * H + h) * hd + d]) : 0.0f;
        acc[c] = 0.0f;
    }
    float m = neg_inf(), l = 0.0f;
    for (long long t0 = (long long)warp * kTile; t0 < len; t0 += kWarps * kTile) {
        const int nt = len - t0 < kTile ? (int)(len - t0) : kTile;
        float mine = neg_inf();  // lane jj's score: token t0 + jj
        #pragma unroll 1  // unrolled, ptxas 11.8 spills at sm_90
        for (int jj = 0; jj < nt; jj++) {
            const unsigned t = (unsigned)(t0 + jj);  // lengths are int32; 32-bit division is inline, 64-bit a call
            const long long slot = (long long)table[t / bs] * block_size + t % bs;
            const T* kr = k_cache + slot * slot_stride + kvh * hd;
            float part = 0.0f;
            #pragma unroll
            for (int c = 0; c < C; c++) {
                const int d = lane + c * fsr::kWarpSize;
                if (d < hd) part += qv[c] * fsr::to_float(kr[d]);
            }
            part = fsr::warp_sum(part) * scale;
            if (lane == jj) mine = part;
        }
        const float mnew = fmaxf(m, warp_max(mine));
        const float corr = mnew == m ? 1.0f : expf(m - mnew);  // 0 on the first tile
        const float p = lane < nt ? expf(mine - mnew) : 0.0f;
        l = l * corr + fsr::warp_sum(p);
        m = mnew;
        #pragma unroll
        for (int c = 0; c < C; c++) acc[c] *= corr;
        #pragma unroll 1
        for (int jj = 0; jj < nt; jj++) {
            const unsigned t = (unsigned)(t0 + jj);  // lengths are int32; 32-bit division is inline, 64-bit a call
            const long long slot = (long long)table[t / bs] * block_size + t % bs;
            const T* vr = v_cache + slot * slot_stride + kvh * hd;
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            #pragma unroll
            for (int c = 0; c < C; c++) {
                const int d = lane + c * fsr::kWarpSize;
                if (d < hd) acc[c] += pj * fsr::to_float(vr[d]);
            }
        }
    }

    if (lane == 0) {
        ms[warp] = m;
        ls[warp] = l;
    }
    #pragma unroll
    for (int c = 0; c < C; c++) os[warp * HD + lane + c * fsr::kWarpSize] = acc[c];
    __syncthreads();
    float mmax = ms[0];
    for (int w = 1; w < kWarps; w++) mmax = fmaxf(mmax, ms[w]);
    float lsum = 0.0f;
    for (int w = 0; w < kWarps; w++) lsum += ls[w] * merge_weight(ms[w], mmax);
    const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;  // a row of length 0 gets zeros
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < kWarps; w++) o += os[w * HD + d] * merge_weight(ms[w], mmax);
        fsr::store(&out[(r * H + h) * hd + d], o * inv);
    }
}

}  // namespace decode_attention

// One entry point per storage type and padded head_dim, written out: ptxas 11.8 crashes on
// kernels stamped out by a macro when line info is on.
extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_f32_32(float* out,
        const float* q, const float* k_cache, const float* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<float, 32>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_f32_32)

extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_f32_64(float* out,
        const float* q, const float* k_cache, const float* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<float, 64>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_f32_64)

extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_f32_128(float* out,
        const float* q, const float* k_cache, const float* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<float, 128>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_f32_128)

extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_bf16_32(fsr::bf16* out,
        const fsr::bf16* q, const fsr::bf16* k_cache, const fsr::bf16* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<fsr::bf16, 32>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_bf16_32)

extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_bf16_64(fsr::bf16* out,
        const fsr::bf16* q, const fsr::bf16* k_cache, const fsr::bf16* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<fsr::bf16, 64>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_bf16_64)

extern "C" __global__ void __launch_bounds__(decode_attention::kThreads) decode_attention_bf16_128(fsr::bf16* out,
        const fsr::bf16* q, const fsr::bf16* k_cache, const fsr::bf16* v_cache, const int* block_tables, long long max_blocks,
        const int* lengths, int H, int KVH, int hd, int block_size, float scale) {
    decode_attention::decode<fsr::bf16, 128>(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, H, KVH, hd, block_size, scale);
}
FSR_REGISTER_KERNEL(decode_attention_bf16_128)
