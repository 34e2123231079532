// attention_tc.cu: causal grouped-query attention over packed ragged sequences on tensor cores,
// forward and backward, FlashAttention-2 style, for bf16 storage and head_dim up to 64 or 128. Same
// math, shapes and outputs as attention.cu (and native/cpu/attention.cpp):
//   q, out, dout, dq [n, H, hd];  k, v, dk, dv [n, KVH, hd] (bf16);  lse [n, H] (fp32);  sequence b
//   owns rows [cu_seqlens[b], cu_seqlens[b+1]); query head h reads kv head h / (H / KVH); row i sees
//   the rows j <= i of its own sequence.
//   forward:  s_ij = scale q_i.k_j,  lse_i = log sum_j exp(s_ij),  out_i = sum_j exp(s_ij - lse_i) v_j
//   backward: D_i = dout_i.out_i,  ds_ij = scale p_ij (dout_i.v_j - D_i)  (p recomputed from lse),
//             dq_i = sum_j ds_ij k_j,  dk_j = sum_i ds_ij q_i,  dv_j = sum_i p_ij dout_i  (overwrite)
// Entry points attention_forward_tc_bf16_HD, attention_backward_dq_tc_bf16_HD and
// attention_backward_dkdv_tc_bf16_HD, HD = 64 or 128 (the padded head_dim; dimensions past hd are
// zero in shared memory and never stored).
//
// Launch: 128 threads (4 warps) per block.
//   forward, dq: grid (query tiles, H), a query tile being 64 rows of one sequence
//     (ceil(len_b / 64) per sequence; the host launches the upper bound ceil(n / 64) + batch, and the
//     blocks past the last tile return at once); dynamic shared memory 2 * 64 * (HD + 8) * 2 bytes
//     (18 KiB at HD 64, 34 KiB at 128: the key and value tiles).
//   dk/dv: grid (key tiles of 64, KVH); dynamic shared memory (2 * 64 + 2 * kQ) * (HD + 8) * 2 +
//     2 * kQ * 4 bytes, kQ = 32 queries per tile (16 at HD 128): 27 KiB and 43 KiB.
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
// the emulator does not model). The backward recomputes P from lse in both of its kernels, so that
// each output has one owner and one order of summation (no atomics); each kernel says its layout.
// Forward registers per thread at HD = 128: 32 (Q fragments) + 32 (scores) + 64 (output) + addressing.
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

// dq of one query tile (the backward's first kernel; dk and dv stay on attention.cu's FMA kernel):
//   D_i = dout_i.out_i,  p_ij = exp(scale s_ij - lse_i),  ds_ij = scale p_ij (dout_i.v_j - D_i),
//   dq_i = sum_j ds_ij k_j  (overwritten).
// As the forward: 4 warps of 16 query rows; Q and dout kept as A fragments; per 32 keys of a tile,
// S = Q K^T and dP = dout V^T on tensor cores (K and V as stored), dS formed in the accumulators and
// dQ += dS K with dS as the A operand and K transposed by ldmatrix. Registers at HD 128: 32 (Q) +
// 32 (dout) + 64 (dQ) + 32 (S, dP of 32 keys).
template <int HD>
__device__ void backward_dq(unsigned short* ks, unsigned short* vs, fsr::bf16* dq, const fsr::bf16* dout, const fsr::bf16* out,
                            const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
                            long long batch, int H, int KVH, int hd, float scale) {
    constexpr int LD = HD + kPad, KC = HD / 16, DB = HD / 8, kSub = 32, NB = kSub / 8;

    long long start, end, i0;
    if (!locate(cu_seqlens, batch, blockIdx.x, kQueryTile, start, end, i0)) return;
    const int h = blockIdx.y, kvh = h / (H / KVH);
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const int g = lane / 4, t = lane % 4;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;
    const long long row_of[2] = {i0 + warp * kRows + g, i0 + warp * kRows + g + 8};

    // Q in ks and dout in vs, then their A fragments; D of rows g and g + 8 from the staged dout,
    // each of a group's 4 lanes summing every fourth dimension.
    load_tile<HD>(ks, kQueryTile, q + h * hd, i0, end, q_stride, hd);
    load_tile<HD>(vs, kQueryTile, dout + h * hd, i0, end, q_stride, hd);
    __syncthreads();
    unsigned qa[KC][4], da[KC][4];
    {
        const int matrix = lane / 8, row = warp * kRows + (matrix & 1) * 8 + lane % 8;
        #pragma unroll
        for (int c = 0; c < KC; c++) {
            fsr::ldmatrix<4, false>(qa[c], ks + row * LD + c * 16 + (matrix >> 1) * 8);
            fsr::ldmatrix<4, false>(da[c], vs + row * LD + c * 16 + (matrix >> 1) * 8);
        }
    }
    float D[2], l[2];
    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const long long row = row_of[r];
        float part = 0.0f;
        if (row < end)
            for (int d = t; d < hd; d += 4) {
                const fsr::bf16 o = out[row * q_stride + h * hd + d];
                part += fsr::to_float(fsr::bf16{vs[(warp * kRows + g + 8 * r) * LD + d]}) * fsr::to_float(o);
            }
        part += __shfl_xor_sync(0xffffffffu, part, 1);
        part += __shfl_xor_sync(0xffffffffu, part, 2);
        D[r] = part;
        l[r] = row < end ? lse[row * H + h] : 0.0f;
    }

    float acc[DB][4];
    #pragma unroll
    for (int d = 0; d < DB; d++) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.0f;

    const long long last = end < i0 + kQueryTile ? end : i0 + kQueryTile;
    for (long long j0 = start; j0 < last; j0 += kKeyTile) {
        __syncthreads();  // every warp is done with the previous tile (or with Q and dout)
        load_tile<HD>(ks, kKeyTile, k + kvh * hd, j0, last, kv_stride, hd);
        load_tile<HD>(vs, kKeyTile, v + kvh * hd, j0, last, kv_stride, hd);
        __syncthreads();
        #pragma unroll
        for (int sub = 0; sub < kKeyTile / kSub; sub++) {
            // S = Q K^T and dP = dout V^T for keys sub * 32 + 8 nb + (0..7), as in the forward.
            float s[NB][4], dp[NB][4];
            #pragma unroll
            for (int nb = 0; nb < NB; nb++) {
                s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
                dp[nb][0] = dp[nb][1] = dp[nb][2] = dp[nb][3] = 0.0f;
                const int key_row = sub * kSub + nb * 8 + lane % 8;
                #pragma unroll
                for (int c = 0; c < KC; c += 2) {
                    unsigned kb[4], vb[4];
                    fsr::ldmatrix<4, false>(kb, ks + key_row * LD + c * 16 + (lane / 8) * 8);
                    fsr::ldmatrix<4, false>(vb, vs + key_row * LD + c * 16 + (lane / 8) * 8);
                    const unsigned k0[2] = {kb[0], kb[1]}, k1[2] = {kb[2], kb[3]}, v0[2] = {vb[0], vb[1]}, v1[2] = {vb[2], vb[3]};
                    fsr::mma_m16n8k16_bf16(s[nb], qa[c], k0, s[nb]);
                    fsr::mma_m16n8k16_bf16(s[nb], qa[c + 1], k1, s[nb]);
                    fsr::mma_m16n8k16_bf16(dp[nb], da[c], v0, dp[nb]);
                    fsr::mma_m16n8k16_bf16(dp[nb], da[c + 1], v1, dp[nb]);
                }
            }
            // dS in place of S: element i of block nb is row g + 8 (i / 2), key j0 + sub * 32 + 8nb + 2t + i % 2.
            #pragma unroll
            for (int nb = 0; nb < NB; nb++)
                #pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int r = i / 2;
                    const long long j = j0 + sub * kSub + nb * 8 + 2 * t + i % 2;
                    const bool valid = j <= row_of[r] && j < end;
                    const float p = valid ? expf(s[nb][i] * scale - l[r]) : 0.0f;
                    s[nb][i] = p * (dp[nb][i] - D[r]) * scale;
                }
            // dQ += dS K: dS of key blocks 2kc and 2kc + 1 is one A fragment; K's B operand is K
            // transposed, ldmatrix.x4.trans as V's in the forward.
            #pragma unroll
            for (int kc = 0; kc < kSub / 16; kc++) {
                const unsigned sa[4] = {pack(s[2 * kc][0], s[2 * kc][1]), pack(s[2 * kc][2], s[2 * kc][3]),
                                        pack(s[2 * kc + 1][0], s[2 * kc + 1][1]), pack(s[2 * kc + 1][2], s[2 * kc + 1][3])};
                #pragma unroll
                for (int d = 0; d < DB; d += 2) {
                    unsigned kb[4];
                    fsr::ldmatrix<4, true>(kb, ks + (sub * kSub + kc * 16 + (lane / 8 % 2) * 8 + lane % 8) * LD + (d + lane / 16) * 8);
                    const unsigned first[2] = {kb[0], kb[1]}, second[2] = {kb[2], kb[3]};
                    fsr::mma_m16n8k16_bf16(acc[d], sa, first, acc[d]);
                    fsr::mma_m16n8k16_bf16(acc[d + 1], sa, second, acc[d + 1]);
                }
            }
        }
    }

    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const long long row = row_of[r];
        if (row >= end) continue;
        #pragma unroll
        for (int d = 0; d < DB; d++)
            #pragma unroll
            for (int e = 0; e < 2; e++) {
                const int dim = d * 8 + 2 * t + e;
                if (dim < hd) fsr::store(&dq[row * q_stride + h * hd + dim], acc[d][2 * r + e]);
            }
    }
}

// dk and dv of one tile of 64 keys of kv head blockIdx.y (the backward's second kernel):
//   dv_j = sum_i p_ij dout_i,  dk_j = sum_i ds_ij q_i  over the queries i >= j of the G query heads
//   of the group, walked in a fixed order (heads, then query tiles): deterministic, no atomics.
// Each warp owns 16 keys (one mma's M): S^T = K Q^T and dP^T = V dout^T come out with keys as rows,
// so P^T and dS^T are A operands as they stand, and dV += P^T dout, dK += dS^T Q take dout and Q
// transposed by ldmatrix. K and V stay in shared memory (64 keys); queries stream through in tiles
// of kQ = 32 (16 at HD 128, to stay within 48 KiB) with their D = dout.out and lse beside them.
// Registers at HD 128: 128 for the dK and dV accumulators, 32 for S^T and dP^T, fragments in flight.
template <int HD>
__device__ void backward_dkdv(unsigned short* smem, fsr::bf16* dk, fsr::bf16* dv, const fsr::bf16* dout, const fsr::bf16* out,
                              const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
                              long long batch, int H, int KVH, int hd, float scale) {
    constexpr int LD = HD + kPad, KC = HD / 16, DB = HD / 8, kQ = HD == 128 ? 16 : 32, NB = kQ / 8;
    unsigned short* ks = smem;
    unsigned short* vs = ks + kKeyTile * LD;
    unsigned short* qs = vs + kKeyTile * LD;
    unsigned short* dos = qs + kQ * LD;
    float* Ds = reinterpret_cast<float*>(dos + kQ * LD);
    float* Ls = Ds + kQ;

    long long start, end, j0;
    if (!locate(cu_seqlens, batch, blockIdx.x, kKeyTile, start, end, j0)) return;
    const int kvh = blockIdx.y, G = H / KVH;
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const int g = lane / 4, t = lane % 4;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;
    const long long key_last = end < j0 + kKeyTile ? end : j0 + kKeyTile;
    const long long key_of[2] = {j0 + warp * kRows + g, j0 + warp * kRows + g + 8};

    load_tile<HD>(ks, kKeyTile, k + kvh * hd, j0, key_last, kv_stride, hd);
    load_tile<HD>(vs, kKeyTile, v + kvh * hd, j0, key_last, kv_stride, hd);

    float dka[DB][4], dva[DB][4];
    #pragma unroll
    for (int d = 0; d < DB; d++)
        #pragma unroll
        for (int i = 0; i < 4; i++) dka[d][i] = dva[d][i] = 0.0f;

    // The A fragments of this warp's 16 keys at dimensions 16c .. 16c + 15 (rows as the forward's Q).
    const int a_row = warp * kRows + (lane / 8 & 1) * 8 + lane % 8, a_col = (lane / 16) * 8;

    for (int gi = 0; gi < G; gi++) {
        const int h = kvh * G + gi;
        for (long long i0 = j0; i0 < end; i0 += kQ) {
            __syncthreads();  // every warp is done with the previous query tile
            load_tile<HD>(qs, kQ, q + h * hd, i0, end, q_stride, hd);
            load_tile<HD>(dos, kQ, dout + h * hd, i0, end, q_stride, hd);
            // D and lse of the tile's queries: warp w takes queries w, w + 4, ...
            for (int r = warp; r < kQ; r += kWarps) {
                const long long row = i0 + r;
                float part = 0.0f;
                if (row < end)
                    for (int d = lane; d < hd; d += fsr::kWarpSize)
                        part += fsr::to_float(dout[row * q_stride + h * hd + d]) * fsr::to_float(out[row * q_stride + h * hd + d]);
                part = fsr::warp_sum(part);
                if (lane == 0) {
                    Ds[r] = part;
                    Ls[r] = row < end ? lse[row * H + h] : 0.0f;
                }
            }
            __syncthreads();

            // S^T = K Q^T and dP^T = V dout^T: B operands are Q's and dout's rows as stored.
            float s[NB][4], dp[NB][4];
            #pragma unroll
            for (int nb = 0; nb < NB; nb++)
                #pragma unroll
                for (int i = 0; i < 4; i++) s[nb][i] = dp[nb][i] = 0.0f;
            #pragma unroll
            for (int c = 0; c < KC; c += 2) {
                unsigned ka0[4], ka1[4], va0[4], va1[4];
                fsr::ldmatrix<4, false>(ka0, ks + a_row * LD + c * 16 + a_col);
                fsr::ldmatrix<4, false>(ka1, ks + a_row * LD + (c + 1) * 16 + a_col);
                fsr::ldmatrix<4, false>(va0, vs + a_row * LD + c * 16 + a_col);
                fsr::ldmatrix<4, false>(va1, vs + a_row * LD + (c + 1) * 16 + a_col);
                #pragma unroll
                for (int nb = 0; nb < NB; nb++) {
                    unsigned qb[4], db[4];
                    fsr::ldmatrix<4, false>(qb, qs + (nb * 8 + lane % 8) * LD + c * 16 + (lane / 8) * 8);
                    fsr::ldmatrix<4, false>(db, dos + (nb * 8 + lane % 8) * LD + c * 16 + (lane / 8) * 8);
                    const unsigned q0[2] = {qb[0], qb[1]}, q1[2] = {qb[2], qb[3]}, d0[2] = {db[0], db[1]}, d1[2] = {db[2], db[3]};
                    fsr::mma_m16n8k16_bf16(s[nb], ka0, q0, s[nb]);
                    fsr::mma_m16n8k16_bf16(s[nb], ka1, q1, s[nb]);
                    fsr::mma_m16n8k16_bf16(dp[nb], va0, d0, dp[nb]);
                    fsr::mma_m16n8k16_bf16(dp[nb], va1, d1, dp[nb]);
                }
            }
            // P^T into dp's place, dS^T into s's: element i of block nb is key g + 8 (i / 2) of the
            // warp, query i0 + 8nb + 2t + i % 2.
            #pragma unroll
            for (int nb = 0; nb < NB; nb++)
                #pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int qi = nb * 8 + 2 * t + i % 2;
                    const long long row = i0 + qi, key = key_of[i / 2];
                    const bool valid = key <= row && row < end && key < end;
                    const float p = valid ? expf(s[nb][i] * scale - Ls[qi]) : 0.0f;
                    s[nb][i] = p * (dp[nb][i] - Ds[qi]) * scale;
                    dp[nb][i] = p;
                }
            // dV += P^T dout and dK += dS^T Q, 16 queries a step; dout and Q transposed by ldmatrix.
            #pragma unroll
            for (int kc = 0; kc < kQ / 16; kc++) {
                const unsigned pa[4] = {pack(dp[2 * kc][0], dp[2 * kc][1]), pack(dp[2 * kc][2], dp[2 * kc][3]),
                                        pack(dp[2 * kc + 1][0], dp[2 * kc + 1][1]), pack(dp[2 * kc + 1][2], dp[2 * kc + 1][3])};
                const unsigned sa[4] = {pack(s[2 * kc][0], s[2 * kc][1]), pack(s[2 * kc][2], s[2 * kc][3]),
                                        pack(s[2 * kc + 1][0], s[2 * kc + 1][1]), pack(s[2 * kc + 1][2], s[2 * kc + 1][3])};
                const int b_row = kc * 16 + (lane / 8 % 2) * 8 + lane % 8;
                #pragma unroll
                for (int d = 0; d < DB; d += 2) {
                    unsigned db[4], qb[4];
                    fsr::ldmatrix<4, true>(db, dos + b_row * LD + (d + lane / 16) * 8);
                    fsr::ldmatrix<4, true>(qb, qs + b_row * LD + (d + lane / 16) * 8);
                    const unsigned d0[2] = {db[0], db[1]}, d1[2] = {db[2], db[3]}, q0[2] = {qb[0], qb[1]}, q1[2] = {qb[2], qb[3]};
                    fsr::mma_m16n8k16_bf16(dva[d], pa, d0, dva[d]);
                    fsr::mma_m16n8k16_bf16(dva[d + 1], pa, d1, dva[d + 1]);
                    fsr::mma_m16n8k16_bf16(dka[d], sa, q0, dka[d]);
                    fsr::mma_m16n8k16_bf16(dka[d + 1], sa, q1, dka[d + 1]);
                }
            }
        }
    }

    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const long long key = key_of[r];
        if (key >= end) continue;
        #pragma unroll
        for (int d = 0; d < DB; d++)
            #pragma unroll
            for (int e = 0; e < 2; e++) {
                const int dim = d * 8 + 2 * t + e;
                if (dim < hd) {
                    fsr::store(&dk[key * kv_stride + kvh * hd + dim], dka[d][2 * r + e]);
                    fsr::store(&dv[key * kv_stride + kvh * hd + dim], dva[d][2 * r + e]);
                }
            }
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

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_backward_dq_tc_bf16_64(fsr::bf16* dq, const fsr::bf16* dout, const fsr::bf16* out, const float* lse, const fsr::bf16* q,
                                 const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd,
                                 float scale) {
    FSR_EXTERN_SHARED(unsigned short, tiles);
    attention_tc::backward_dq<64>(tiles, tiles + attention_tc::kKeyTile * (64 + attention_tc::kPad), dq, dout, out, lse, q, k, v, cu_seqlens,
                                  batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_tc_bf16_64)

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_backward_dq_tc_bf16_128(fsr::bf16* dq, const fsr::bf16* dout, const fsr::bf16* out, const float* lse, const fsr::bf16* q,
                                  const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd,
                                  float scale) {
    FSR_EXTERN_SHARED(unsigned short, tiles);
    attention_tc::backward_dq<128>(tiles, tiles + attention_tc::kKeyTile * (128 + attention_tc::kPad), dq, dout, out, lse, q, k, v,
                                   cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_tc_bf16_128)

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_backward_dkdv_tc_bf16_64(fsr::bf16* dk, fsr::bf16* dv, const fsr::bf16* dout, const fsr::bf16* out, const float* lse,
                                   const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H,
                                   int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, smem);
    attention_tc::backward_dkdv<64>(smem, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_tc_bf16_64)

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads)
attention_backward_dkdv_tc_bf16_128(fsr::bf16* dk, fsr::bf16* dv, const fsr::bf16* dout, const fsr::bf16* out, const float* lse,
                                    const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H,
                                    int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, smem);
    attention_tc::backward_dkdv<128>(smem, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_tc_bf16_128)
