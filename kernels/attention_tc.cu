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
#include "common/tiles.cuh"
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

// The A operand of one mma step: rows first_row .. first_row + 15 of a shared tile at dimensions
// 16c .. 16c + 15 (ldmatrix.x4 matrices: rows 0-7 and 8-15 at the low 8 dimensions, then at the high 8).
__device__ __forceinline__ void load_a(unsigned (&a)[4], const unsigned short* tile, int ld, int first_row, int c) {
    const int lane = threadIdx.x % fsr::kWarpSize;
    fsr::ldmatrix<4, false>(a, tile + (first_row + (lane / 8 & 1) * 8 + lane % 8) * ld + c * 16 + (lane / 16) * 8);
}

// The B operands of two k-steps, dimensions 16c .. 16c + 31, for the 8 columns that are rows
// first_row .. first_row + 7 of a tile as stored (B[k][n] = tile[n][k]): {b0, b1} at step c, {b2, b3} at c + 1.
__device__ __forceinline__ void load_b(unsigned (&b)[4], const unsigned short* tile, int ld, int first_row, int c) {
    const int lane = threadIdx.x % fsr::kWarpSize;
    fsr::ldmatrix<4, false>(b, tile + (first_row + lane % 8) * ld + c * 16 + (lane / 8) * 8);
}

// The B operands of one k-step, the tile's rows first_row .. first_row + 15, for the column blocks
// of dimensions 8d .. 8d + 7 and 8d + 8 .. 8d + 15, the tile transposed: {b0, b1} for block d, {b2, b3} for d + 1.
__device__ __forceinline__ void load_b_transposed(unsigned (&b)[4], const unsigned short* tile, int ld, int first_row, int d) {
    const int lane = threadIdx.x % fsr::kWarpSize;
    fsr::ldmatrix<4, true>(b, tile + (first_row + (lane / 8 % 2) * 8 + lane % 8) * ld + (d + lane / 16) * 8);
}

// acc += a0 {b0, b1} + a1 {b2, b3}: two k-steps into one accumulator (b from load_b).
__device__ __forceinline__ void mma_two_steps(float (&acc)[4], const unsigned (&a0)[4], const unsigned (&a1)[4], const unsigned (&b)[4]) {
    const unsigned first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
    fsr::mma_m16n8k16_bf16(acc, a0, first, acc);
    fsr::mma_m16n8k16_bf16(acc, a1, second, acc);
}

// lo += a {b0, b1}, hi += a {b2, b3}: one k-step into two column blocks (b from load_b_transposed).
__device__ __forceinline__ void mma_two_blocks(float (&lo)[4], float (&hi)[4], const unsigned (&a)[4], const unsigned (&b)[4]) {
    const unsigned first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
    fsr::mma_m16n8k16_bf16(lo, a, first, lo);
    fsr::mma_m16n8k16_bf16(hi, a, second, hi);
}

// The accumulators of two 8-column blocks as the A operand of one 16-k step (P or dS into the next
// product, without leaving registers), rounded to bf16.
__device__ __forceinline__ void accumulators_as_a(unsigned (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
    a[0] = pack(lo[0], lo[1]);
    a[1] = pack(lo[2], lo[3]);
    a[2] = pack(hi[0], hi[1]);
    a[3] = pack(hi[2], hi[3]);
}

// This thread's part of D = dout.out for one row: dimensions first, first + step, ... below hd, dout
// from its staged row in shared memory, out from global memory.
__device__ __forceinline__ float staged_dot(const unsigned short* dout_row, const fsr::bf16* out_row, int hd, int first, int step) {
    float part = 0.0f;
    for (int d = first; d < hd; d += step) part += fsr::to_float(fsr::bf16{dout_row[d]}) * fsr::to_float(out_row[d]);
    return part;
}

// A warp's 16 x HD accumulators, rows row[0] (its g) and row[1] (g + 8) times factor[r], into
// dst[row * stride + dim] for rows below end and dimensions below hd.
template <int DB>
__device__ void store_rows(fsr::bf16* dst, const float (&acc)[DB][4], const long long (&row)[2], const float (&factor)[2], long long end,
                           long long stride, int hd) {
    const int t = threadIdx.x % 4;
    #pragma unroll
    for (int r = 0; r < 2; r++) {
        if (row[r] >= end) continue;
        #pragma unroll
        for (int d = 0; d < DB; d++)
            #pragma unroll
            for (int e = 0; e < 2; e++) {
                const int dim = d * 8 + 2 * t + e;
                if (dim < hd) fsr::store(&dst[row[r] * stride + dim], acc[d][2 * r + e] * factor[r]);
            }
    }
}

// ks and vs: the key and value tiles, kKeyTile rows of HD + kPad elements each, in the launch's
// dynamic shared memory. The query tile is staged in ks before the first key tile (both are 64 rows).
template <int HD>
__device__ void forward(unsigned short* ks, unsigned short* vs, fsr::bf16* out, float* lse, const fsr::bf16* q, const fsr::bf16* k,
                        const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    constexpr int LD = HD + kPad, KC = HD / 16, NB = kKeyTile / 8, DB = HD / 8;

    long long start, end, i0;
    if (!fsr::locate_tile(cu_seqlens, batch, blockIdx.x, kQueryTile, start, end, i0)) return;
    const int h = blockIdx.y, kvh = h / (H / KVH);
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const int g = lane / 4, t = lane % 4;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;

    // Q fragments (A operands, one per 16 dimensions): matrices 0-3 of ldmatrix.x4 are rows 0-7 and
    // 8-15 of the warp's rows, at dimensions 16c .. 16c + 7 and then 16c + 8 .. 16c + 15.
    load_tile<HD>(ks, kQueryTile, q + h * hd, i0, end, q_stride, hd);
    __syncthreads();
    unsigned qa[KC][4];
    #pragma unroll
    for (int c = 0; c < KC; c++) load_a(qa[c], ks, LD, warp * kRows, c);

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
                load_b(kb, ks, LD, nb * 8, c);
                mma_two_steps(s[nb], qa[c], qa[c + 1], kb);
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
            unsigned pa[4];
            accumulators_as_a(pa, s[2 * kc], s[2 * kc + 1]);
            #pragma unroll
            for (int d = 0; d < DB; d += 2) {
                unsigned vb[4];
                load_b_transposed(vb, vs, LD, kc * 16, d);
                mma_two_blocks(o[d], o[d + 1], pa, vb);
            }
        }
    }

    const float inv[2] = {1.0f / l[0], 1.0f / l[1]};
    store_rows<DB>(out + h * hd, o, row_of, inv, end, q_stride, hd);
    #pragma unroll
    for (int r = 0; r < 2; r++)
        if (row_of[r] < end && t == 0) lse[row_of[r] * H + h] = m[r] + logf(l[r]);
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
    if (!fsr::locate_tile(cu_seqlens, batch, blockIdx.x, kQueryTile, start, end, i0)) return;
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
    #pragma unroll
    for (int c = 0; c < KC; c++) {
        load_a(qa[c], ks, LD, warp * kRows, c);
        load_a(da[c], vs, LD, warp * kRows, c);
    }
    float D[2], l[2];
    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const long long row = row_of[r];
        float part = row < end ? staged_dot(vs + (warp * kRows + g + 8 * r) * LD, out + row * q_stride + h * hd, hd, t, 4) : 0.0f;
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
                #pragma unroll
                for (int c = 0; c < KC; c += 2) {
                    unsigned kb[4], vb[4];
                    load_b(kb, ks, LD, sub * kSub + nb * 8, c);
                    load_b(vb, vs, LD, sub * kSub + nb * 8, c);
                    mma_two_steps(s[nb], qa[c], qa[c + 1], kb);
                    mma_two_steps(dp[nb], da[c], da[c + 1], vb);
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
                unsigned sa[4];
                accumulators_as_a(sa, s[2 * kc], s[2 * kc + 1]);
                #pragma unroll
                for (int d = 0; d < DB; d += 2) {
                    unsigned kb[4];
                    load_b_transposed(kb, ks, LD, sub * kSub + kc * 16, d);
                    mma_two_blocks(acc[d], acc[d + 1], sa, kb);
                }
            }
        }
    }

    const float one[2] = {1.0f, 1.0f};
    store_rows<DB>(dq + h * hd, acc, row_of, one, end, q_stride, hd);
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
    if (!fsr::locate_tile(cu_seqlens, batch, blockIdx.x, kKeyTile, start, end, j0)) return;
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

    for (int gi = 0; gi < G; gi++) {
        const int h = kvh * G + gi;
        for (long long i0 = j0; i0 < end; i0 += kQ) {
            __syncthreads();  // every warp is done with the previous query tile
            load_tile<HD>(qs, kQ, q + h * hd, i0, end, q_stride, hd);
            load_tile<HD>(dos, kQ, dout + h * hd, i0, end, q_stride, hd);
            __syncthreads();
            // D and lse of the tile's queries, dout from its staged tile: warp w takes queries w, w + 4, ...
            for (int r = warp; r < kQ; r += kWarps) {
                const long long row = i0 + r;
                float part = row < end ? staged_dot(dos + r * LD, out + row * q_stride + h * hd, hd, lane, fsr::kWarpSize) : 0.0f;
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
                // This warp's 16 keys as A operands (K and V rows as the forward's Q rows).
                unsigned ka0[4], ka1[4], va0[4], va1[4];
                load_a(ka0, ks, LD, warp * kRows, c);
                load_a(ka1, ks, LD, warp * kRows, c + 1);
                load_a(va0, vs, LD, warp * kRows, c);
                load_a(va1, vs, LD, warp * kRows, c + 1);
                #pragma unroll
                for (int nb = 0; nb < NB; nb++) {
                    unsigned qb[4], db[4];
                    load_b(qb, qs, LD, nb * 8, c);
                    load_b(db, dos, LD, nb * 8, c);
                    mma_two_steps(s[nb], ka0, ka1, qb);
                    mma_two_steps(dp[nb], va0, va1, db);
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
                unsigned pa[4], sa[4];
                accumulators_as_a(pa, dp[2 * kc], dp[2 * kc + 1]);
                accumulators_as_a(sa, s[2 * kc], s[2 * kc + 1]);
                #pragma unroll
                for (int d = 0; d < DB; d += 2) {
                    unsigned db[4], qb[4];
                    load_b_transposed(db, dos, LD, kc * 16, d);
                    load_b_transposed(qb, qs, LD, kc * 16, d);
                    mma_two_blocks(dva[d], dva[d + 1], pa, db);
                    mma_two_blocks(dka[d], dka[d + 1], sa, qb);
                }
            }
        }
    }

    const float one[2] = {1.0f, 1.0f};
    store_rows<DB>(dk + kvh * hd, dka, key_of, one, end, kv_stride, hd);
    store_rows<DB>(dv + kvh * hd, dva, key_of, one, end, kv_stride, hd);
}

}  // namespace attention_tc

// The dk/dv entry points say (128 threads, at least 1 block per SM): with the thread count alone,
// sm_80's ptxas capped the head_dim 64 kernel at 168 registers and spilled.
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

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads, 1)
attention_backward_dkdv_tc_bf16_64(fsr::bf16* dk, fsr::bf16* dv, const fsr::bf16* dout, const fsr::bf16* out, const float* lse,
                                   const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H,
                                   int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, smem);
    attention_tc::backward_dkdv<64>(smem, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_tc_bf16_64)

extern "C" __global__ void __launch_bounds__(attention_tc::kThreads, 1)
attention_backward_dkdv_tc_bf16_128(fsr::bf16* dk, fsr::bf16* dv, const fsr::bf16* dout, const fsr::bf16* out, const float* lse,
                                    const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H,
                                    int KVH, int hd, float scale) {
    FSR_EXTERN_SHARED(unsigned short, smem);
    attention_tc::backward_dkdv<128>(smem, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_tc_bf16_128)
