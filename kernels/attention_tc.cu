// attention_tc.cu: the forward of causal grouped-query attention over packed ragged sequences on
// tensor cores, FlashAttention-2 style, for bf16 storage and head_dim up to 64 or 128. Same math,
// shapes and outputs as attention.cu's forward (and native/cpu/attention.cpp):
//   q, out [n, H, hd];  k, v [n, KVH, hd] (bf16);  lse [n, H] (fp32);  sequence b owns rows
//   [cu_seqlens[b], cu_seqlens[b+1]); query head h reads kv head h / (H / KVH); row i sees the rows
//   j <= i of its own sequence;  s_ij = scale q_i.k_j,  lse_i = log sum_j exp(s_ij),
//   out_i = sum_j exp(s_ij - lse_i) v_j.
// Entry points attention_forward_tc_bf16_64 and _128 (HD, the padded head_dim; dimensions past hd
// are zero in shared memory and never stored).
//
// Launch: 128 threads (4 warps) per block, 2 * 64 * (HD + 8) * 2 bytes of dynamic shared memory (18 KiB
// at HD = 64, 34 KiB at 128: the key and value tiles); grid (query tiles, H), a query
// tile being 64 rows of one sequence (ceil(len_b / 64) per sequence; the host launches the upper
// bound ceil(n / 64) + batch, and the blocks past the last tile return at once).
//
// Why fast: every multiply-add of the two products runs on tensor cores (mma.sync.m16n8k16, bf16
// in, fp32 accumulate): per key tile, each warp computes its 16 query rows' scores S = Q K^T
// (16 x 64, in registers) and adds P V into its 16 x HD output (in registers). The query tile is
// read from HBM once and kept as mma fragments in registers; keys and values stream through shared
// memory in tiles of 64, each read once per query tile. The softmax is online (running max and
// sum per row, the output rescaled), and P goes from the score accumulators to the next mma's A
// operand without leaving registers: the accumulator layout of two 8-key blocks is the A fragment
// of one 16-key step. Fragments come from shared memory by ldmatrix (K as stored, V transposed);
// rows are padded by 8 elements (16 bytes), which keeps them 16-byte aligned and puts the 8 rows of
// one ldmatrix matrix in different banks. Tiles are staged with plain loads (not cp.async, which
// the emulator does not model).
// Registers per thread at HD = 128: 32 (Q fragments) + 32 (scores) + 64 (output) + addressing.
#include "common/common.cuh"
#include "common/mma.cuh"

namespace attention_tc {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * fsr::kWarpSize;
constexpr int kRows = 16;                    // query rows per warp: one mma's M
constexpr int kQueryTile = kWarps * kRows;   // 64
constexpr int kKeyTile = 64;
constexpr int kPad = 8;                      // bf16 elements of padding per shared row

__device__ __forceinline__ float neg_inf() { return fsr::bits_float(0xff800000u); }

// Two fp32 values as a bf16 pair in one register, the first in the low half (an mma A operand).
__device__ __forceinline__ unsigned pack(float low, float high) {
    return (unsigned)fsr::to_bf16(low).bits | (unsigned)fsr::to_bf16(high).bits << 16;
}

// The query tile's sequence and first row (as attention.cu's locate, tiles of `width` rows).
__device__ bool locate(const int* cu_seqlens, long long batch, long long tile, int width, long long& start, long long& end,
                       long long& first) {
    for (long long b = 0; b < batch; b++) {
        const long long s = cu_seqlens[b], e = cu_seqlens[b + 1];
        const long long tiles = (e - s + width - 1) / width;
        if (tile < tiles) {
            start = s;
            end = e;
            first = s + tile * width;
            return true;
        }
        tile -= tiles;
    }
    return false;
}

// dst[r][d] (row stride HD + kPad) = src[(row0 + r) * stride + d] for rows below row_end and d < hd,
// else 0; each thread moves 8 elements (16 bytes) at a time.
template <int HD>
__device__ void load_tile(unsigned short* dst, int rows, const fsr::bf16* src, long long row0, long long row_end, long long stride,
                          int hd) {
    constexpr int kChunks = HD / 8;
    for (int idx = threadIdx.x; idx < rows * kChunks; idx += kThreads) {
        const int r = idx / kChunks, d0 = (idx % kChunks) * 8;
        const long long row = row0 + r;
        unsigned short* to = dst + r * (HD + kPad) + d0;
        const fsr::bf16* from = src + row * stride + d0;
        for (int e = 0; e < 8; e++) to[e] = row < row_end && d0 + e < hd ? from[e].bits : 0;
    }
}

// ks and vs: the key and value tiles, kKeyTile rows of HD + kPad elements each, in the launch's
// dynamic shared memory. The query tile is staged in ks before the first key tile (both are 64 rows).
template <int HD>
__device__ void forward(unsigned short* ks, unsigned short* vs, fsr::bf16* out, float* lse, const fsr::bf16* q, const fsr::bf16* k,
                        const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    constexpr int LD = HD + kPad, KC = HD / 16, NB = kKeyTile / 8, DB = HD / 8;

    long long start, end, i0;
    if (!locate(cu_seqlens, batch, blockIdx.x, kQueryTile, start, end, i0)) return;
    const int h = blockIdx.y, kvh = h / (H / KVH);
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const int g = lane / 4, t = lane % 4;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;

    // Q fragments (A operands, one per 16 dimensions): matrices 0-3 of ldmatrix.x4 are rows 0-7 and
    // 8-15 of the warp's rows, at dimensions 16c .. 16c + 7 and then 16c + 8 .. 16c + 15.
    load_tile<HD>(ks, kQueryTile, q + h * hd, i0, end, q_stride, hd);
    __syncthreads();
    unsigned qa[KC][4];
    {
        const int matrix = lane / 8, row = warp * kRows + (matrix & 1) * 8 + lane % 8;
        #pragma unroll
        for (int c = 0; c < KC; c++) fsr::ldmatrix<4, false>(qa[c], ks + row * LD + c * 16 + (matrix >> 1) * 8);
    }

    // Rows g and g + 8 of the warp: running max and sum; the output's 8-dimension blocks.
    float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f}, o[DB][4];
    #pragma unroll
    for (int d = 0; d < DB; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    const long long row_of[2] = {i0 + warp * kRows + g, i0 + warp * kRows + g + 8};

    const long long last = end < i0 + kQueryTile ? end : i0 + kQueryTile;  // one past the tile's last row
    for (long long j0 = start; j0 < last; j0 += kKeyTile) {
        __syncthreads();  // every warp is done with the previous tile (or with the query tile)
        load_tile<HD>(ks, kKeyTile, k + kvh * hd, j0, last, kv_stride, hd);
        load_tile<HD>(vs, kKeyTile, v + kvh * hd, j0, last, kv_stride, hd);
        __syncthreads();

        // S = Q K^T: B operand of key block nb and dimensions 16c .. 16c + 15 is K's rows as stored;
        // ldmatrix.x4 matrices: keys 8nb .. 8nb + 7 at dimensions 16c, 16c + 8, 16c + 16, 16c + 24.
        float s[NB][4];
        #pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
            #pragma unroll
            for (int c = 0; c < KC; c += 2) {
                unsigned kb[4];
                fsr::ldmatrix<4, false>(kb, ks + (nb * 8 + lane % 8) * LD + c * 16 + (lane / 8) * 8);
                const unsigned first[2] = {kb[0], kb[1]}, second[2] = {kb[2], kb[3]};
                fsr::mma_m16n8k16_bf16(s[nb], qa[c], first, s[nb]);
                fsr::mma_m16n8k16_bf16(s[nb], qa[c + 1], second, s[nb]);
            }
        }

        // Online softmax. Element i of s[nb] is row g + 8 (i / 2), key j0 + 8nb + 2t + i % 2; the
        // four lanes of a group hold one row between them.
        #pragma unroll
        for (int r = 0; r < 2; r++) {
            float row_max = neg_inf();
            #pragma unroll
            for (int nb = 0; nb < NB; nb++)
                #pragma unroll
                for (int e = 0; e < 2; e++) {
                    const long long j = j0 + nb * 8 + 2 * t + e;
                    // Rows past the sequence end see every key (all finite) and are never stored.
                    const bool valid = j <= row_of[r] && j < end;
                    const float x = valid ? s[nb][2 * r + e] * scale : neg_inf();
                    s[nb][2 * r + e] = x;
                    row_max = fmaxf(row_max, x);
                }
            row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1));
            row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 2));
            const float mnew = fmaxf(m[r], row_max);
            const float corr = mnew == m[r] ? 1.0f : expf(m[r] - mnew);  // 0 on the first tile
            float sum = 0.0f;
            #pragma unroll
            for (int nb = 0; nb < NB; nb++)
                #pragma unroll
                for (int e = 0; e < 2; e++) {
                    const float x = s[nb][2 * r + e];
                    const float p = x == neg_inf() ? 0.0f : expf(x - mnew);
                    s[nb][2 * r + e] = p;
                    sum += p;
                }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            l[r] = l[r] * corr + sum;
            m[r] = mnew;
            #pragma unroll
            for (int d = 0; d < DB; d++) o[d][2 * r] *= corr, o[d][2 * r + 1] *= corr;
        }

        // O += P V, 16 keys a step: P's A fragment is the accumulators of key blocks 2kc and
        // 2kc + 1; V's B operand is V transposed, ldmatrix.x4.trans matrices keys 16kc .. 16kc + 7
        // and 16kc + 8 .. 16kc + 15 at dimensions 8d, then at 8d + 8.
        #pragma unroll
        for (int kc = 0; kc < kKeyTile / 16; kc++) {
            const unsigned pa[4] = {pack(s[2 * kc][0], s[2 * kc][1]), pack(s[2 * kc][2], s[2 * kc][3]),
                                    pack(s[2 * kc + 1][0], s[2 * kc + 1][1]), pack(s[2 * kc + 1][2], s[2 * kc + 1][3])};
            #pragma unroll
            for (int d = 0; d < DB; d += 2) {
                unsigned vb[4];
                fsr::ldmatrix<4, true>(vb, vs + (kc * 16 + (lane / 8 % 2) * 8 + lane % 8) * LD + (d + lane / 16) * 8);
                const unsigned first[2] = {vb[0], vb[1]}, second[2] = {vb[2], vb[3]};
                fsr::mma_m16n8k16_bf16(o[d], pa, first, o[d]);
                fsr::mma_m16n8k16_bf16(o[d + 1], pa, second, o[d + 1]);
            }
        }
    }

    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const long long row = row_of[r];
        if (row >= end) continue;
        const float inv = 1.0f / l[r];
        #pragma unroll
        for (int d = 0; d < DB; d++)
            #pragma unroll
            for (int e = 0; e < 2; e++) {
                const int dim = d * 8 + 2 * t + e;
                if (dim < hd) fsr::store(&out[row * q_stride + h * hd + dim], o[d][2 * r + e] * inv);
            }
        if (t == 0) lse[row * H + h] = m[r] + logf(l[r]);
    }
}

}  // namespace attention_tc

// The entry points are written out, not made by a macro: NVRTC 11.8's ptxas crashes (unbounded
// recursion) compiling a macro-generated kernel of this file for sm_90 with --generate-line-info.
extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_forward_tc_bf16_64(fsr::bf16* out, float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
                             long long batch, int H, int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, tiles);
    attention_tc::forward<64>(tiles, tiles + attention_tc::kKeyTile * (64 + attention_tc::kPad), out, lse, q, k, v, cu_seqlens, batch, H,
                              KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_tc_bf16_64)

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_forward_tc_bf16_128(fsr::bf16* out, float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
                              long long batch, int H, int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, tiles);
    attention_tc::forward<128>(tiles, tiles + attention_tc::kKeyTile * (128 + attention_tc::kPad), out, lse, q, k, v, cu_seqlens, batch,
                               H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_tc_bf16_128)
