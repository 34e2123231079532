// decode_attention.cpp: attention of one new query token per row over that row's tokens in
// the paged KV cache (the current token included, already written by fsr_kv_cache_write).
//   q, out [b, H, hd];  k_cache, v_cache [num_blocks, block_size, KVH, hd];
//   row r's token t (t < lengths[r]) lives at slot
//   block_tables[r * max_blocks + t / block_size] * block_size + t % block_size;
//   out_r,h = sum_t softmax_t(scale q_r,h . k_t) v_t with k, v of kv head h / (H / KVH).
//
// One task per (row, kv head): the G query heads of a group read the same cached keys and
// values, so a task loads each cached row once for all of them (heads in chunks of 8 keep
// the score tile on the stack bounded when G is large). Tokens go in tiles of 64 with an
// online softmax (running max and sum per head, rescaling the partial output), which is
// numerically stable and needs no buffer the size of the context. The output rows of a
// task belong to it alone and serve as the accumulators. A row of length 0 gets zeros.
// Decoding is bound by reading the cache, not by arithmetic, so the scores are plain dot
// products along head_dim (no transposed tile, whose copy would cost as much as the G dot
// products it feeds), and the value rows are added four at a time along head_dim.
#include "common.h"
#include "fast_exp.h"
#include "parallel.h"

#include <algorithm>
#include <limits>

namespace {

constexpr int64_t TILE = 64;  // tokens per tile
constexpr int64_t GC = 8;     // query heads per pass over the cache

template <typename T>
inline void add_rows(T* __restrict y, const T* __restrict c, const T* const* rows, int64_t nj, int64_t hd) {
    int64_t j = 0;
    for (; j + 4 <= nj; j += 4) {
        const T c0 = c[j], c1 = c[j + 1], c2 = c[j + 2], c3 = c[j + 3];
        const T* __restrict r0 = rows[j];
        const T* __restrict r1 = rows[j + 1];
        const T* __restrict r2 = rows[j + 2];
        const T* __restrict r3 = rows[j + 3];
        #pragma omp simd
        for (int64_t d = 0; d < hd; d++) y[d] += c0 * r0[d] + c1 * r1[d] + c2 * r2[d] + c3 * r3[d];
    }
    for (; j < nj; j++) {
        const T c0 = c[j];
        const T* __restrict r0 = rows[j];
        #pragma omp simd
        for (int64_t d = 0; d < hd; d++) y[d] += c0 * r0[d];
    }
}

template <typename T>
void decode_attention(T* out, const T* q, const T* k_cache, const T* v_cache, const int32_t* block_tables,
                      int64_t max_blocks, const int32_t* lengths, int64_t b, int64_t H, int64_t KVH, int64_t hd,
                      int64_t block_size, double scale_d) {
    const int64_t G = H / KVH;
    const T scale = (T)scale_d;
    const int64_t slot_stride = KVH * hd;
    int64_t work = 0;
    for (int64_t r = 0; r < b; r++) work += (int64_t)lengths[r] * H * hd;

    #pragma omp parallel for collapse(2) num_threads(fsr_threads()) if(work > FSR_PARALLEL_GRAIN) schedule(dynamic, 1)
    for (int64_t r = 0; r < b; r++) {
        for (int64_t kvh = 0; kvh < KVH; kvh++) {
            const int64_t len = lengths[r];
            const int32_t* table = block_tables + r * max_blocks;
            for (int64_t g0 = 0; g0 < G; g0 += GC) {
                const int64_t ng = std::min(GC, G - g0);
                const T* qg[GC];
                T* og[GC];
                T m[GC], l[GC];
                for (int64_t g = 0; g < ng; g++) {
                    const int64_t off = (r * H + kvh * G + g0 + g) * hd;
                    qg[g] = q + off;
                    og[g] = out + off;
                    std::fill_n(og[g], hd, T(0));
                    m[g] = -std::numeric_limits<T>::infinity();
                    l[g] = T(0);
                }

                alignas(64) T s[GC][TILE];
                const T* kp[TILE];
                const T* vp[TILE];
                for (int64_t t0 = 0; t0 < len; t0 += TILE) {
                    const int64_t nt = std::min(TILE, len - t0);
                    for (int64_t j = 0; j < nt; j++) {
                        const int64_t t = t0 + j;
                        const int64_t slot = (int64_t)table[t / block_size] * block_size + t % block_size;
                        kp[j] = k_cache + slot * slot_stride + kvh * hd;
                        vp[j] = v_cache + slot * slot_stride + kvh * hd;
                    }
                    for (int64_t j = 0; j < nt; j++) {
                        const T* __restrict kj = kp[j];
                        for (int64_t g = 0; g < ng; g++) {
                            const T* __restrict qv = qg[g];
                            T acc = T(0);
                            #pragma omp simd reduction(+:acc)
                            for (int64_t d = 0; d < hd; d++) acc += qv[d] * kj[d];
                            s[g][j] = acc * scale;
                        }
                    }
                    for (int64_t g = 0; g < ng; g++) {
                        T* sg = s[g];
                        T tmax = m[g];
                        #pragma omp simd reduction(max:tmax)
                        for (int64_t j = 0; j < nt; j++) tmax = sg[j] > tmax ? sg[j] : tmax;
                        const T corr = fsr_exp(m[g] - tmax);  // 0 on the first tile (m = -inf)
                        T sum = T(0);
                        #pragma omp simd reduction(+:sum)
                        for (int64_t j = 0; j < nt; j++) {
                            sg[j] = fsr_exp(sg[j] - tmax);
                            sum += sg[j];
                        }
                        l[g] = l[g] * corr + sum;
                        m[g] = tmax;
                        T* o = og[g];
                        if (corr != T(1))
                            for (int64_t d = 0; d < hd; d++) o[d] *= corr;
                        add_rows(o, sg, vp, nt, hd);
                    }
                }
                if (len > 0) {
                    for (int64_t g = 0; g < ng; g++) {
                        const T inv = T(1) / l[g];
                        for (int64_t d = 0; d < hd; d++) og[g][d] *= inv;
                    }
                }
            }
        }
    }
}

}  // namespace

extern "C" {

void fsr_decode_attention_f32(float* out, const float* q, const float* k_cache, const float* v_cache,
                              const int32_t* block_tables, int64_t max_blocks, const int32_t* lengths,
                              int64_t b, int64_t H, int64_t KVH, int64_t hd, int64_t block_size, double scale) {
    decode_attention(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, b, H, KVH, hd, block_size, scale);
}
void fsr_decode_attention_f64(double* out, const double* q, const double* k_cache, const double* v_cache,
                              const int32_t* block_tables, int64_t max_blocks, const int32_t* lengths,
                              int64_t b, int64_t H, int64_t KVH, int64_t hd, int64_t block_size, double scale) {
    decode_attention(out, q, k_cache, v_cache, block_tables, max_blocks, lengths, b, H, KVH, hd, block_size, scale);
}

}
