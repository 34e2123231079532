// attention.cpp: causal grouped-query attention over packed ragged sequences, forward and
// backward, flash-attention style (the [T, T] probability matrix never exists in memory).
//   q, out, dout, dq [n, H, hd];  k, v, dk, dv [n, KVH, hd];  lse [n, H];
//   sequence b owns rows [cu_seqlens[b], cu_seqlens[b+1]); query head h reads kv head
//   h / G with G = H / KVH; row i sees the rows j <= i of its own sequence.
//   forward:  s_ij = scale q_i.k_j,  lse_i = log sum_j exp(s_ij),  out_i = sum_j p_ij v_j
//             with p_ij = exp(s_ij - lse_i)
//   backward: D_i = dout_i.out_i,  ds_ij = p_ij (dout_i.v_j - D_i)   (p recomputed from lse)
//             dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i,  dv_j = sum_i p_ij dout_i
//             (all three overwritten)
//
// Inside one (sequence, kv head) pair, the G query heads of the group share every key and
// value, so the work is organised around "query vectors": the (row i, head g) pairs of the
// group, numbered v = (i - start) * G + g. Keys are processed in tiles of bc (64 for
// head_dim <= 128) copied transposed into a stack buffer [hd][bc]: then the scores of one
// query vector against the tile are hd broadcast-multiply-adds over a contiguous row of bc
// values, which vectorizes along the keys, and the copy is paid once per tile for all the
// query vectors that use it. The other products (p v, ds k, p dout, ds q) are row updates
// along head_dim, unrolled four rows at a time so each load/store of the accumulated row
// carries four multiply-adds.
//
// Forward: one task per (sequence, kv head, chunk of 64 query vectors), dynamically
// scheduled (causal rows do unequal work). A chunk keeps its running max and sum on the
// stack and accumulates straight into its own out rows (online softmax), so the stack
// holds only the key tile whatever G and head_dim are.
// Backward: one task per (sequence, kv head). The task owns the dk/dv rows of its kv head
// and the dq rows of the query heads of its group for its sequence, so every output is
// written by exactly one thread, in a fixed order: deterministic, no atomics. Key tiles are
// the outer loop (dk/dv of the tile stay hot in L1/L2); query vectors go four at a time
// for the rank-4 updates of dk and dv; dq accumulates across tiles in the output buffer.
// The kernels never allocate: the stack holds at most two tiles of 8192 elements.
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

#include <algorithm>
#include <limits>

namespace {

constexpr int64_t TILE_ELEMS = 8192;  // one transposed tile: 32 KiB in f32
constexpr int64_t BC_MAX = 64;        // keys per tile
constexpr int64_t FWD_CHUNK = 64;     // query vectors per forward task
constexpr int64_t RB = 4;             // query vectors per backward block

inline int64_t tile_width(int64_t hd) { return std::max<int64_t>(1, std::min(BC_MAX, TILE_ELEMS / hd)); }

// dst[d * bc + j] = src[j * stride + d] for j < nj; columns nj..bc-1 are zeroed so the
// full-width score loop never reads uninitialised memory.
template <typename T>
inline void load_transposed(T* __restrict dst, const T* __restrict src, int64_t stride, int64_t nj, int64_t bc, int64_t hd) {
    for (int64_t j = 0; j < nj; j++) {
        const T* row = src + j * stride;
        for (int64_t d = 0; d < hd; d++) dst[d * bc + j] = row[d];
    }
    for (int64_t d = 0; d < hd; d++)
        for (int64_t j = nj; j < bc; j++) dst[d * bc + j] = T(0);
}

// s[j] = a . column j of bt ([hd][bc]), for all bc columns; four rows of bt per pass.
template <typename T>
inline void dot_tile(T* __restrict s, const T* __restrict a, const T* __restrict bt, int64_t hd, int64_t bc) {
    for (int64_t j = 0; j < bc; j++) s[j] = T(0);
    int64_t d = 0;
    for (; d + 4 <= hd; d += 4) {
        const T a0 = a[d], a1 = a[d + 1], a2 = a[d + 2], a3 = a[d + 3];
        const T* b0 = bt + d * bc;
        const T* b1 = b0 + bc;
        const T* b2 = b1 + bc;
        const T* b3 = b2 + bc;
        #pragma omp simd
        for (int64_t j = 0; j < bc; j++) s[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
    }
    for (; d < hd; d++) {
        const T a0 = a[d];
        const T* b0 = bt + d * bc;
        #pragma omp simd
        for (int64_t j = 0; j < bc; j++) s[j] += a0 * b0[j];
    }
}

// y += sum_{j < nj} c[j] * rows[j] (rows j * stride apart), four rows per pass over y.
template <typename T>
inline void add_rows(T* __restrict y, const T* __restrict c, const T* __restrict rows, int64_t stride, int64_t nj, int64_t hd) {
    int64_t j = 0;
    for (; j + 4 <= nj; j += 4) {
        const T c0 = c[j], c1 = c[j + 1], c2 = c[j + 2], c3 = c[j + 3];
        const T* r0 = rows + j * stride;
        const T* r1 = r0 + stride;
        const T* r2 = r1 + stride;
        const T* r3 = r2 + stride;
        #pragma omp simd
        for (int64_t d = 0; d < hd; d++) y[d] += c0 * r0[d] + c1 * r1[d] + c2 * r2[d] + c3 * r3[d];
    }
    for (; j < nj; j++) {
        const T c0 = c[j];
        const T* r0 = rows + j * stride;
        #pragma omp simd
        for (int64_t d = 0; d < hd; d++) y[d] += c0 * r0[d];
    }
}

template <typename T>
inline T dot(const T* __restrict a, const T* __restrict b, int64_t hd) {
    T s = T(0);
    #pragma omp simd reduction(+:s)
    for (int64_t d = 0; d < hd; d++) s += a[d] * b[d];
    return s;
}

template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const int32_t* cu_seqlens,
                       int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale_d) {
    const int64_t G = H / KVH;
    const int64_t bc = tile_width(hd);
    const T scale = (T)scale_d;
    const int64_t kv_stride = KVH * hd;
    const int64_t q_stride = H * hd;

    int64_t chunks = 0;  // chunks of one kv head, summed over sequences
    for (int64_t b = 0; b < batch; b++)
        chunks += ((int64_t)(cu_seqlens[b + 1] - cu_seqlens[b]) * G + FWD_CHUNK - 1) / FWD_CHUNK;
    const int64_t work = (int64_t)cu_seqlens[batch] * H * hd;

    #pragma omp parallel for num_threads(fsr_threads()) if(work > FSR_PARALLEL_GRAIN) schedule(dynamic, 1)
    for (int64_t task = 0; task < chunks * KVH; task++) {
        const int64_t kvh = task % KVH;
        // The batch is small (tens of sequences): a scan beats a scratch table of offsets.
        int64_t c = task / KVH, b = 0, nvec = 0;
        for (;; b++) {
            nvec = (int64_t)(cu_seqlens[b + 1] - cu_seqlens[b]) * G;
            int64_t nc = (nvec + FWD_CHUNK - 1) / FWD_CHUNK;
            if (c < nc) break;
            c -= nc;
        }
        const int64_t start = cu_seqlens[b];
        const int64_t v0 = c * FWD_CHUNK, v1 = std::min(nvec, v0 + FWD_CHUNK);
        const int64_t last_row = start + (v1 - 1) / G;

        alignas(64) T kt[TILE_ELEMS];
        alignas(64) T s[BC_MAX];
        T m[FWD_CHUNK], l[FWD_CHUNK];
        for (int64_t vi = v0; vi < v1; vi++) {
            m[vi - v0] = -std::numeric_limits<T>::infinity();
            l[vi - v0] = T(0);
            T* o = out + (start + vi / G) * q_stride + (kvh * G + vi % G) * hd;
            for (int64_t d = 0; d < hd; d++) o[d] = T(0);
        }

        for (int64_t j0 = start; j0 <= last_row; j0 += bc) {
            const int64_t nj = std::min(bc, last_row - j0 + 1);
            load_transposed(kt, k + j0 * kv_stride + kvh * hd, kv_stride, nj, bc, hd);
            const T* vtile = v + j0 * kv_stride + kvh * hd;
            for (int64_t vi = v0; vi < v1; vi++) {
                const int64_t i = start + vi / G;
                if (i < j0) continue;
                const int64_t h = kvh * G + vi % G;
                const int64_t nv = std::min(nj, i - j0 + 1);  // causal: keys j0..i
                dot_tile(s, q + i * q_stride + h * hd, kt, hd, bc);
                T tmax = -std::numeric_limits<T>::infinity();
                #pragma omp simd reduction(max:tmax)
                for (int64_t j = 0; j < nv; j++) {
                    s[j] *= scale;
                    tmax = s[j] > tmax ? s[j] : tmax;
                }
                T& mv = m[vi - v0];
                T& lv = l[vi - v0];
                const T mnew = std::max(mv, tmax);
                const T corr = fsr_exp(mv - mnew);  // 0 on the first tile (mv = -inf)
                T sum = T(0);
                #pragma omp simd reduction(+:sum)
                for (int64_t j = 0; j < nv; j++) {
                    s[j] = fsr_exp(s[j] - mnew);
                    sum += s[j];
                }
                lv = lv * corr + sum;
                mv = mnew;
                T* o = out + i * q_stride + h * hd;
                if (corr != T(1))
                    for (int64_t d = 0; d < hd; d++) o[d] *= corr;
                add_rows(o, s, vtile, kv_stride, nv, hd);
            }
        }

        for (int64_t vi = v0; vi < v1; vi++) {
            const int64_t i = start + vi / G, h = kvh * G + vi % G;
            T* o = out + i * q_stride + h * hd;
            const T inv = T(1) / l[vi - v0];
            for (int64_t d = 0; d < hd; d++) o[d] *= inv;
            lse[i * H + h] = m[vi - v0] + std::log(l[vi - v0]);
        }
    }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const T* lse, const T* q, const T* k,
                        const T* v, const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd,
                        double scale_d) {
    const int64_t G = H / KVH;
    const int64_t bc = tile_width(hd);
    const T scale = (T)scale_d;
    const int64_t kv_stride = KVH * hd;
    const int64_t q_stride = H * hd;
    const int64_t work = (int64_t)cu_seqlens[batch] * H * hd;

    #pragma omp parallel for collapse(2) num_threads(fsr_threads()) if(work > FSR_PARALLEL_GRAIN) schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t kvh = 0; kvh < KVH; kvh++) {
            const int64_t start = cu_seqlens[b], end = cu_seqlens[b + 1];
            for (int64_t i = start; i < end; i++) {
                std::fill_n(dk + i * kv_stride + kvh * hd, hd, T(0));
                std::fill_n(dv + i * kv_stride + kvh * hd, hd, T(0));
                std::fill_n(dq + i * q_stride + kvh * G * hd, G * hd, T(0));
            }

            alignas(64) T kt[TILE_ELEMS];
            alignas(64) T vt[TILE_ELEMS];
            alignas(64) T p[RB][BC_MAX];
            alignas(64) T ds[RB][BC_MAX];
            for (int64_t j0 = start; j0 < end; j0 += bc) {
                const int64_t nj = std::min(bc, end - j0);
                const int64_t koff = j0 * kv_stride + kvh * hd;
                load_transposed(kt, k + koff, kv_stride, nj, bc, hd);
                load_transposed(vt, v + koff, kv_stride, nj, bc, hd);

                // Query vectors of rows i >= j0, the only ones that see this tile.
                const int64_t nvec = (end - j0) * G;
                for (int64_t vb = 0; vb < nvec; vb += RB) {
                    const int64_t nb = std::min(RB, nvec - vb);
                    const T* qr[RB];
                    const T* dor[RB];
                    T* dqr[RB];
                    for (int64_t r = 0; r < nb; r++) {
                        const int64_t i = j0 + (vb + r) / G, h = kvh * G + (vb + r) % G;
                        const int64_t off = i * q_stride + h * hd;
                        qr[r] = q + off;
                        dor[r] = dout + off;
                        dqr[r] = dq + off;
                        const T D = dot(dor[r], out + off, hd);
                        const T l = lse[i * H + h];
                        const int64_t nv = std::min(nj, i - j0 + 1);
                        T* pr = p[r];
                        T* dsr = ds[r];
                        dot_tile(pr, qr[r], kt, hd, bc);
                        dot_tile(dsr, dor[r], vt, hd, bc);
                        #pragma omp simd
                        for (int64_t j = 0; j < nv; j++) {
                            const T pj = fsr_exp(scale * pr[j] - l);
                            pr[j] = pj;
                            dsr[j] = pj * (dsr[j] - D) * scale;
                        }
                        for (int64_t j = nv; j < nj; j++) pr[j] = dsr[j] = T(0);
                    }
                    // Pad a short last block with zero coefficients so the row updates below
                    // always take four terms.
                    for (int64_t r = nb; r < RB; r++) {
                        qr[r] = qr[0];
                        dor[r] = dor[0];
                        for (int64_t j = 0; j < nj; j++) p[r][j] = ds[r][j] = T(0);
                    }
                    for (int64_t j = 0; j < nj; j++) {
                        T* dvj = dv + koff + j * kv_stride;
                        T* dkj = dk + koff + j * kv_stride;
                        const T p0 = p[0][j], p1 = p[1][j], p2 = p[2][j], p3 = p[3][j];
                        const T s0 = ds[0][j], s1 = ds[1][j], s2 = ds[2][j], s3 = ds[3][j];
                        #pragma omp simd
                        for (int64_t d = 0; d < hd; d++) {
                            dvj[d] += p0 * dor[0][d] + p1 * dor[1][d] + p2 * dor[2][d] + p3 * dor[3][d];
                            dkj[d] += s0 * qr[0][d] + s1 * qr[1][d] + s2 * qr[2][d] + s3 * qr[3][d];
                        }
                    }
                    for (int64_t r = 0; r < nb; r++) add_rows(dqr[r], ds[r], k + koff, kv_stride, nj, hd);
                }
            }
        }
    }
}

}  // namespace

extern "C" {

void fsr_attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                               const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale) {
    attention_forward(out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
void fsr_attention_forward_f64(double* out, double* lse, const double* q, const double* k, const double* v,
                               const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale) {
    attention_forward(out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
void fsr_attention_backward_f32(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                                const float* q, const float* k, const float* v,
                                const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale) {
    attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
void fsr_attention_backward_f64(double* dq, double* dk, double* dv, const double* dout, const double* out, const double* lse,
                                const double* q, const double* k, const double* v,
                                const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale) {
    attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}

}
