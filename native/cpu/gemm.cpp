// gemm.cpp: C[M,N] = alpha * op(A) op(B) + beta * C, row-major, op(X) = X or X^T.
// A is [M,K] ([K,M] when trans_a), B is [K,N] ([N,K] when trans_b); lda/ldb/ldc are row
// strides and may exceed the row width (views into wider buffers).
//
// Three paths:
// - Few rows (M <= 4) times a transposed B (y = x W^T when decoding a few rows, B = a weight
//   [out, in]): a dot-product kernel of our own. Every weight row is streamed from memory
//   once and reused from L1 for all M rows, which is what bounds decoding; BLAS sgemm at M = 1..4
//   repacks the weight panel first and runs at a fraction of memory bandwidth.
// - Otherwise, with a BLAS (blas.cpp loads one at run time), one cblas_?gemm call (CblasRowMajor).
// - Without a BLAS, a portable cache-blocked GEMM in the Goto style: C is cut into MB x NB tiles,
//   one tile per OpenMP iteration, so every C element is written by one thread, accumulated in the
//   same k order whatever the thread count (deterministic, no races). Per K-block the tile packs
//   op(A) into MR-row panels and op(B) into NR-column panels on the stack; packing hides the
//   transposes and the strides, so one micro-kernel (an MR x NR register tile, contiguous NR-wide
//   FMAs) serves all four cases.
//
// Every path applies beta itself when K == 0 or alpha == 0, and beta == 0 never reads C
// (BLAS semantics: C may hold NaN or garbage then).
#include "common.h"
#include "parallel.h"

#include "blas.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace {

// C = beta * C over an M x N view; beta == 0 writes zeros without reading.
template <typename T>
void scale_c(T* C, int64_t ldc, int64_t M, int64_t N, T beta) {
    if (beta == T(1)) return;
    #pragma omp parallel for num_threads(fsr_threads()) if(M * N > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        T* c = C + i * ldc;
        if (beta == T(0)) {
            #pragma omp simd
            for (int64_t j = 0; j < N; j++) c[j] = T(0);
        } else {
            #pragma omp simd
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
        }
    }
}

// Register tile MR x NR: 4 rows x 32 columns is 4 (AVX-512) or 8 (AVX2) vector
// accumulators per row, few enough to stay in registers. The cache blocks keep the packed
// B block (KB x NB) in L2 and a packed A panel in L1; packed buffers are
// (MB + NB) * KB elements, 96 KiB (f32) or 192 KiB (f64) of stack per thread.
constexpr int64_t MR = 4, NR = 32;
constexpr int64_t MB = 64, NB = 128, KB = 128;

// Packs op(A)[i0:i0+mb, k0:k0+kb] into MR-row panels, [panel][k][r], zero-padding rows
// past mb so the micro-kernel always runs full tiles.
template <typename T>
void pack_a(T* Ap, const T* A, int64_t lda, bool ta, int64_t i0, int64_t mb, int64_t k0, int64_t kb) {
    for (int64_t p = 0; p < mb; p += MR) {
        T* dst = Ap + p * kb;
        for (int64_t k = 0; k < kb; k++)
            for (int64_t r = 0; r < MR; r++) {
                int64_t i = p + r;
                dst[k * MR + r] = i < mb ? (ta ? A[(k0 + k) * lda + i0 + i] : A[(i0 + i) * lda + k0 + k]) : T(0);
            }
    }
}

// Packs op(B)[k0:k0+kb, j0:j0+nb] into NR-column panels, [panel][k][c], zero-padded.
template <typename T>
void pack_b(T* Bp, const T* B, int64_t ldb, bool tb, int64_t k0, int64_t kb, int64_t j0, int64_t nb) {
    for (int64_t q = 0; q < nb; q += NR) {
        T* dst = Bp + q * kb;
        int64_t w = std::min(NR, nb - q);
        for (int64_t k = 0; k < kb; k++) {
            T* d = dst + k * NR;
            if (tb) {
                for (int64_t c = 0; c < w; c++) d[c] = B[(j0 + q + c) * ldb + k0 + k];
            } else {
                const T* s = B + (k0 + k) * ldb + j0 + q;
                for (int64_t c = 0; c < w; c++) d[c] = s[c];
            }
            for (int64_t c = w; c < NR; c++) d[c] = T(0);
        }
    }
}

// C[0:mr, 0:nr] += alpha * (packed A panel) (packed B panel), mr <= MR, nr <= NR.
template <typename T>
inline void micro_kernel(const T* a, const T* b, int64_t kb, T alpha, T* C, int64_t ldc, int64_t mr, int64_t nr) {
    T acc[MR][NR] = {};
    for (int64_t k = 0; k < kb; k++) {
        const T* bk = b + k * NR;
        for (int64_t r = 0; r < MR; r++) {
            T ar = a[k * MR + r];
            #pragma omp simd
            for (int64_t c = 0; c < NR; c++) acc[r][c] += ar * bk[c];
        }
    }
    for (int64_t r = 0; r < mr; r++) {
        T* cr = C + r * ldc;
        if (nr == NR) {
            #pragma omp simd
            for (int64_t c = 0; c < NR; c++) cr[c] += alpha * acc[r][c];
        } else {
            for (int64_t c = 0; c < nr; c++) cr[c] += alpha * acc[r][c];
        }
    }
}

template <typename T>
void blocked_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T* C, int64_t ldc) {
    int64_t mblocks = (M + MB - 1) / MB, nblocks = (N + NB - 1) / NB;
    // Below ~1M multiply-adds the team wake-up costs more than the tile work.
    #pragma omp parallel for collapse(2) schedule(static) num_threads(fsr_threads()) \
        if(M * N * K > 64 * FSR_PARALLEL_GRAIN)
    for (int64_t ib = 0; ib < mblocks; ib++)
        for (int64_t jb = 0; jb < nblocks; jb++) {
            alignas(64) T Ap[MB * KB];
            alignas(64) T Bp[NB * KB];
            int64_t i0 = ib * MB, mb = std::min(MB, M - i0);
            int64_t j0 = jb * NB, nb = std::min(NB, N - j0);
            for (int64_t k0 = 0; k0 < K; k0 += KB) {
                int64_t kb = std::min(KB, K - k0);
                pack_a(Ap, A, lda, ta, i0, mb, k0, kb);
                pack_b(Bp, B, ldb, tb, k0, kb, j0, nb);
                for (int64_t p = 0; p < mb; p += MR)
                    for (int64_t q = 0; q < nb; q += NR)
                        micro_kernel(Ap + p * kb, Bp + q * kb, kb, alpha, C + (i0 + p) * ldc + j0 + q, ldc,
                                     std::min(MR, mb - p), std::min(NR, nb - q));
            }
        }
}

// The dot-product kernel's tile, SM rows of x against SN weight rows: 16 accumulators of 16
// floats, half the AVX-512 register file. It takes M <= 4, from per-core measurements against
// OpenBLAS's SkylakeX sgemm on the model's weights: at M = 1 it runs 8-18 GFLOP/s on every shape
// where OpenBLAS runs 4-30 and is slowest on the widest weights (gate/up, lm_head), 1.8x over a
// whole decode step; 1.3-1.4x at M = 4; a tie at M = 8; 2x slower from M = 16, where BLAS's
// packed register blocking wins.
constexpr int64_t SM = 4, SN = 4, SKINNY_MAX_M = 4;

typedef float v16f __attribute__((vector_size(64)));

inline v16f load16(const float* p) {
    v16f v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline float hsum(v16f v) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

// C[0:sm, j0:j0+sn] = alpha * A[0:sm, :] . B[j0+c, :] (+ beta C), sm <= SM, sn <= SN; K-vector
// part in 16-wide accumulators, the tail scalar.
inline void dot_tile(int64_t sm, int64_t sn, int64_t K, float alpha, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    v16f acc[SM][SN] = {};
    int64_t kv = K & ~int64_t(15);
    for (int64_t k = 0; k < kv; k += 16) {
        v16f b[SN];
        for (int64_t c = 0; c < SN; c++) b[c] = c < sn ? load16(B + c * ldb + k) : v16f{};
        for (int64_t r = 0; r < SM; r++) {
            if (r >= sm) break;
            v16f a = load16(A + r * lda + k);
            for (int64_t c = 0; c < SN; c++) acc[r][c] += a * b[c];
        }
    }
    for (int64_t r = 0; r < sm; r++)
        for (int64_t c = 0; c < sn; c++) {
            float sum = hsum(acc[r][c]);
            for (int64_t k = kv; k < K; k++) sum += A[r * lda + k] * B[c * ldb + k];
            float* out = C + r * ldc + c;
            *out = beta == 0.0f ? alpha * sum : alpha * sum + beta * *out;
        }
}

// C = alpha * A B^T + beta C for M <= SKINNY_MAX_M: threads split the weight rows (N), each row
// block is read from memory once and used for every row of A.
void skinny_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    #pragma omp parallel for schedule(static) num_threads(fsr_threads()) if(N * K > 4 * FSR_PARALLEL_GRAIN)
    for (int64_t j = 0; j < N; j += SN)
        for (int64_t i = 0; i < M; i += SM)
            dot_tile(std::min(SM, M - i), std::min(SN, N - j), K, alpha, A + i * lda, lda, B + j * ldb, ldb, beta,
                     C + i * ldc + j, ldc);
}

void blas_gemm(const FsrBlas& blas, bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
    blas.sgemm(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(const FsrBlas& blas, bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
    blas.dgemm(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void gemm(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == T(0)) {
        scale_c(C, ldc, M, N, beta);
        return;
    }
    if constexpr (std::is_same_v<T, float>) {
        if (M <= SKINNY_MAX_M && !trans_a && trans_b) {
            skinny_gemm(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
    }
    const FsrBlas& blas = fsr_blas();
    if (blas.sgemm != nullptr) {
        // CBLAS takes int sizes; every single dimension of this model is far below 2^31.
        blas_gemm(blas, trans_a != 0, trans_b != 0, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
    scale_c(C, ldc, M, N, beta);
    blocked_gemm(trans_a != 0, trans_b != 0, M, N, K, alpha, A, lda, B, ldb, C, ldc);
}

}  // namespace

extern "C" {
void fsr_gemm_f32(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void fsr_gemm_f64(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
}
