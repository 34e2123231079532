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
// group, numbered v = (i - start) * G + g. Keys go in tiles of bc (64 up to head_dim 128,
// fewer above so a tile stays 8192 values; head_dim up to 512). Every product is then a
// small matrix product, done by one register-blocked micro-kernel (mm_rows): up to 4 output
// rows times 2 SIMD vectors of columns held in registers while it walks the reduction
// dimension, one broadcast multiply-add per register per step, the way a BLAS kernel is
// built. A GEMM library call would cost more than these 4 x 64 x 64 products themselves.
// For the scores the key tile is first copied transposed to the stack ([hd][bc]) so that
// the columns (keys) are contiguous; the copy is paid once per tile for all the query
// vectors that use it.
//
// Forward: one task per (sequence, kv head, chunk of 64 query vectors), dynamically
// scheduled (causal rows do unequal work). A chunk keeps its running max and sum on the
// stack and accumulates straight into its own out rows (online softmax), so the stack
// holds only the key tile whatever G and head_dim are.
// Backward: one task per (sequence, kv head). The task owns the dk/dv rows of its kv head
// and the dq rows of the query heads of its group for its sequence, so every output is
// written by exactly one thread, in a fixed order: deterministic, no atomics. Key tiles are
// the outer loop; query vectors go 16 at a time, so dk and dv of the tile take rank-16
// updates and dq accumulates across tiles in the output buffer. The kernels never
// allocate: the stack holds two tiles of 8192 values and 16 x 64 probabilities.
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace {

constexpr int64_t TILE_ELEMS = 8192;  // one transposed tile: 32 KiB in f32
constexpr int64_t BC_MAX = 64;        // keys per tile
constexpr int64_t FWD_CHUNK = 64;     // query vectors per forward task
constexpr int64_t RB = 16;            // query vectors per backward block

// A multiple of 16, so the SIMD column blocks of the micro-kernel divide it.
inline int64_t tile_width(int64_t hd) { return std::max<int64_t>(16, std::min(BC_MAX, TILE_ELEMS / hd / 16 * 16)); }

#if defined(__AVX512F__)
constexpr int VBYTES = 64;
#else
constexpr int VBYTES = 32;
#endif

template <typename T>
struct Simd {
    typedef T V __attribute__((vector_size(VBYTES)));
    static constexpr int64_t W = VBYTES / sizeof(T);
};

// Rows of the right-hand matrix: evenly strided, or listed one pointer per row (the dout and
// q rows of a block of query vectors are not evenly spaced when 1 < G < H).
template <typename T>
struct Strided {
    const T* base;
    int64_t stride;
    const T* operator[](int64_t k) const { return base + k * stride; }
};
template <typename T>
struct Listed {
    const T* const* rows;
    const T* operator[](int64_t k) const { return rows[k]; }
};

// C_r[0, n) = (accumulate ? C_r[0, n) : 0) + sum_{k < K} A_r[k * a_ks] * B_k[0, n),  r < R.
// 2R vector accumulators stay in registers for the whole k loop (8 for R = 4: enough
// independent multiply-add chains to cover the FMA latency). Columns past the last full
// pair of vectors (head_dim not a multiple of 2W) take the scalar loop.
template <typename T, int R, typename BRows>
inline void mm_rows(T* const* C, const T* const* A, int64_t a_ks, BRows B, int64_t K, int64_t n, bool accumulate) {
    using V = typename Simd<T>::V;
    constexpr int64_t W = Simd<T>::W;
    int64_t c = 0;
    for (; c + 2 * W <= n; c += 2 * W) {
        V acc[R][2];
        #pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (accumulate) {
                std::memcpy(&acc[r][0], C[r] + c, sizeof(V));
                std::memcpy(&acc[r][1], C[r] + c + W, sizeof(V));
            } else {
                acc[r][0] = V{};
                acc[r][1] = V{};
            }
        }
        for (int64_t k = 0; k < K; k++) {
            const T* bk = B[k] + c;
            V b0, b1;
            std::memcpy(&b0, bk, sizeof(V));
            std::memcpy(&b1, bk + W, sizeof(V));
            #pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const T a = A[r][k * a_ks];
                acc[r][0] += a * b0;
                acc[r][1] += a * b1;
            }
        }
        #pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            std::memcpy(C[r] + c, &acc[r][0], sizeof(V));
            std::memcpy(C[r] + c + W, &acc[r][1], sizeof(V));
        }
    }
    for (; c < n; c++) {
        for (int r = 0; r < R; r++) {
            T s = accumulate ? C[r][c] : T(0);
            for (int64_t k = 0; k < K; k++) s += A[r][k * a_ks] * B[k][c];
            C[r][c] = s;
        }
    }
}

// mm_rows for R = rows (1..4) known only at run time.
template <typename T, typename BRows>
inline void mm(int64_t rows, T* const* C, const T* const* A, int64_t a_ks, BRows B, int64_t K, int64_t n, bool accumulate) {
    switch (rows) {
        case 4: mm_rows<T, 4>(C, A, a_ks, B, K, n, accumulate); break;
        case 3: mm_rows<T, 3>(C, A, a_ks, B, K, n, accumulate); break;
        case 2: mm_rows<T, 2>(C, A, a_ks, B, K, n, accumulate); break;
        default: mm_rows<T, 1>(C, A, a_ks, B, K, n, accumulate); break;
    }
}

// dst[d * bc + j] = src[j * stride + d] for j < nj; columns nj..bc-1 are zeroed so the
// full-width score products never read uninitialised memory.
template <typename T>
inline void load_transposed(T* __restrict dst, const T* __restrict src, int64_t stride, int64_t nj, int64_t bc, int64_t hd) {
    for (int64_t j = 0; j < nj; j++) {
        const T* row = src + j * stride;
        for (int64_t d = 0; d < hd; d++) dst[d * bc + j] = row[d];
    }
    for (int64_t d = 0; d < hd; d++)
        for (int64_t j = nj; j < bc; j++) dst[d * bc + j] = T(0);
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
        auto row_of = [&](int64_t vi) { return start + vi / G; };
        auto offset_of = [&](int64_t vi) { return row_of(vi) * q_stride + (kvh * G + vi % G) * hd; };

        alignas(64) T kt[TILE_ELEMS];
        alignas(64) T s[4][BC_MAX];
        T m[FWD_CHUNK], l[FWD_CHUNK];
        for (int64_t vi = v0; vi < v1; vi++) {
            m[vi - v0] = -std::numeric_limits<T>::infinity();
            l[vi - v0] = T(0);
            std::fill_n(out + offset_of(vi), hd, T(0));
        }

        for (int64_t j0 = start; j0 <= last_row; j0 += bc) {
            const int64_t nj = std::min(bc, last_row - j0 + 1);
            load_transposed(kt, k + j0 * kv_stride + kvh * hd, kv_stride, nj, bc, hd);
            const Strided<T> vrows{v + j0 * kv_stride + kvh * hd, kv_stride};
            // Vectors are in row order; those of rows before j0 do not see this tile.
            for (int64_t vb = std::max(v0, (j0 - start) * G); vb < v1; vb += 4) {
                const int64_t nb = std::min<int64_t>(4, v1 - vb);
                const T* qr[4];
                T* orow[4];
                T* sr[4] = {s[0], s[1], s[2], s[3]};
                for (int64_t r = 0; r < nb; r++) {
                    qr[r] = q + offset_of(vb + r);
                    orow[r] = out + offset_of(vb + r);
                }
                mm(nb, sr, qr, 1, Strided<T>{kt, bc}, hd, bc, false);
                int64_t kmax = 0;
                for (int64_t r = 0; r < nb; r++) {
                    const int64_t nv = std::min(nj, row_of(vb + r) - j0 + 1);  // causal: keys j0..i
                    kmax = std::max(kmax, nv);
                    T* sv = s[r];
                    T tmax = -std::numeric_limits<T>::infinity();
                    #pragma omp simd reduction(max:tmax)
                    for (int64_t j = 0; j < nv; j++) {
                        sv[j] *= scale;
                        tmax = sv[j] > tmax ? sv[j] : tmax;
                    }
                    T& mv = m[vb + r - v0];
                    T& lv = l[vb + r - v0];
                    const T mnew = mv > tmax ? mv : tmax;
                    const T corr = fsr_exp(mv - mnew);  // 0 on the first tile (mv = -inf)
                    T sum = T(0);
                    #pragma omp simd reduction(+:sum)
                    for (int64_t j = 0; j < nv; j++) {
                        sv[j] = fsr_exp(sv[j] - mnew);
                        sum += sv[j];
                    }
                    for (int64_t j = nv; j < nj; j++) sv[j] = T(0);
                    lv = lv * corr + sum;
                    mv = mnew;
                    if (corr != T(1))
                        for (int64_t d = 0; d < hd; d++) orow[r][d] *= corr;
                }
                mm(nb, orow, sr, 1, vrows, kmax, hd, true);
            }
        }

        for (int64_t vi = v0; vi < v1; vi++) {
            T* o = out + offset_of(vi);
            const T inv = T(1) / l[vi - v0];
            for (int64_t d = 0; d < hd; d++) o[d] *= inv;
            lse[row_of(vi) * H + kvh * G + vi % G] = m[vi - v0] + std::log(l[vi - v0]);
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
            T* prow[RB];
            T* dsrow[RB];
            for (int64_t r = 0; r < RB; r++) {
                prow[r] = p[r];
                dsrow[r] = ds[r];
            }
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
                    int64_t rows[RB];
                    for (int64_t r = 0; r < nb; r++) {
                        const int64_t i = j0 + (vb + r) / G, h = kvh * G + (vb + r) % G;
                        const int64_t off = i * q_stride + h * hd;
                        rows[r] = i * H + h;
                        qr[r] = q + off;
                        dor[r] = dout + off;
                        dqr[r] = dq + off;
                    }
                    for (int64_t r = 0; r < nb; r += 4) {
                        const int64_t nr = std::min<int64_t>(4, nb - r);
                        mm(nr, prow + r, qr + r, 1, Strided<T>{kt, bc}, hd, bc, false);
                        mm(nr, dsrow + r, dor + r, 1, Strided<T>{vt, bc}, hd, bc, false);
                    }
                    for (int64_t r = 0; r < nb; r++) {
                        const T D = dot(dor[r], out + (dor[r] - dout), hd);
                        const T l = lse[rows[r]];
                        const int64_t nv = std::min(nj, rows[r] / H - j0 + 1);
                        T* pr = p[r];
                        T* dsr = ds[r];
                        #pragma omp simd
                        for (int64_t j = 0; j < nv; j++) {
                            const T pj = fsr_exp(scale * pr[j] - l);
                            pr[j] = pj;
                            dsr[j] = pj * (dsr[j] - D) * scale;
                        }
                        for (int64_t j = nv; j < nj; j++) pr[j] = dsr[j] = T(0);
                    }
                    // dv_j += sum_r p[r][j] dout_r and dk_j += sum_r ds[r][j] q_r, four key
                    // rows at a time: the A operand is a column of p (stride BC_MAX).
                    for (int64_t j = 0; j < nj; j += 4) {
                        const int64_t nr = std::min<int64_t>(4, nj - j);
                        T* dvr[4];
                        T* dkr[4];
                        const T* pc[4];
                        const T* dsc[4];
                        for (int64_t t = 0; t < nr; t++) {
                            dvr[t] = dv + koff + (j + t) * kv_stride;
                            dkr[t] = dk + koff + (j + t) * kv_stride;
                            pc[t] = &p[0][j + t];
                            dsc[t] = &ds[0][j + t];
                        }
                        mm(nr, dvr, pc, BC_MAX, Listed<T>{dor}, nb, hd, true);
                        mm(nr, dkr, dsc, BC_MAX, Listed<T>{qr}, nb, hd, true);
                    }
                    for (int64_t r = 0; r < nb; r += 4) {
                        const int64_t nr = std::min<int64_t>(4, nb - r);
                        mm(nr, dqr + r, dsrow + r, 1, Strided<T>{k + koff, kv_stride}, nj, hd, true);
                    }
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
