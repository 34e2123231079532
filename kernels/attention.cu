// attention.cu: causal grouped-query attention over packed ragged sequences, forward and
// backward, flash-attention style (the [T, T] probability matrix never exists in memory). Same
// math as native/cpu/attention.cpp:
//   q, out, dout, dq [n, H, hd];  k, v, dk, dv [n, KVH, hd];  lse [n, H] (fp32);
//   sequence b owns rows [cu_seqlens[b], cu_seqlens[b+1]); query head h reads kv head h / G,
//   G = H / KVH; row i sees the rows j <= i of its own sequence.
//   forward:  s_ij = scale q_i.k_j,  lse_i = log sum_j exp(s_ij),  out_i = sum_j p_ij v_j,
//             p_ij = exp(s_ij - lse_i)
//   backward: D_i = dout_i.out_i,  ds_ij = scale p_ij (dout_i.v_j - D_i)  (p recomputed from lse)
//             dq_i = sum_j ds_ij k_j,  dk_j = sum_i ds_ij q_i,  dv_j = sum_i p_ij dout_i  (overwrite)
// Storage of q, k, v, out, dout, dq, dk, dv: fp32 (_f32) or bf16 (_bf16); arithmetic and lse fp32.
// head_dim up to 128: each entry point is compiled for a padded width HD = 32, 64 or 128 (the
// _32/_64/_128 suffix); dimensions past hd are zero in shared memory and never stored.
//
// Launch: 128 threads (4 warps) per block, no dynamic shared memory.
//   attention_forward / attention_backward_dq: grid (query tiles, H). Query tile t is the t-th
//     tile of BQ rows counting ceil(len_b / BQ) per sequence (BQ = 32 forward, 16 for dq); the
//     host cannot read cu_seqlens without stalling the stream, so it launches the upper bound
//     ceil(n / BQ) + batch and the blocks past the last tile return at once.
//   attention_backward_dkdv: grid (key tiles, KVH), key tiles of BK = 32 (HD <= 64) or 16 keys.
// Why fast: a block loads its query tile once and streams the keys and values of its sequence
// through shared memory in tiles of 32, so each key is read from HBM once per query tile, not
// once per query; the softmax is online (running max and sum per row, the partial output
// rescaled), so one pass suffices. Score dot products walk head_dim starting at a different
// offset in each lane ((d + lane) mod HD), which makes both the per-lane query rows and the
// per-lane key rows hit 32 different banks with no padding, and keeps every tile at
// 32 x HD floats: at HD = 128 a block's tiles are exactly the 48 KiB of static shared memory.
// Probabilities move from the lane that computed them to the lanes owning head_dim by warp
// shuffles, not through shared memory. The backward is deterministic without atomics: dk and
// dv of a key tile are owned by one block, which walks every query of the G heads of its group
// in a fixed order; dq is a separate kernel that owns its query tile and walks the keys.
#include "common/common.cuh"
#include "common/tiles.cuh"

namespace attention {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * fsr::kWarpSize;
constexpr int kKeyTile = 32;   // keys per tile of the query-tile kernels: one per lane
constexpr int kQueryTile = 32; // queries per tile of the dk/dv kernel: one per lane

// -inf without math.h, which NVRTC does not provide.
__device__ __forceinline__ float neg_inf() { return fsr::bits_float(0xff800000u); }

__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int offset = fsr::kWarpSize / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// dst[r * HD + d] = src[(row0 + r) * stride + d] as fp32 for rows below row_end and d < hd,
// else 0 (shared memory starts as garbage, and 0 * garbage may be NaN).
template <typename T, int HD>
__device__ void load_tile(float* dst, int rows, const T* src, long long row0, long long row_end, long long stride, int hd) {
    for (int idx = threadIdx.x; idx < rows * HD; idx += blockDim.x) {
        const int r = idx / HD, d = idx % HD;
        const long long row = row0 + r;
        dst[idx] = row < row_end && d < hd ? fsr::to_float(src[row * stride + d]) : 0.0f;
    }
}

// Forward (kBackward false: acc = out) or dq (kBackward true: acc = dq) of one query tile of
// BQ = kWarps * R rows and one query head; warp w owns rows w*R .. w*R + R - 1.
// Scores: lane = key of the tile. Accumulation: lane = dimensions lane + 32 c.
template <typename T, int HD, int R, bool kBackward>
__device__ void query_tile(T* result, float* lse_out, const float* lse_in, const T* q, const T* k, const T* v,
                           const T* dout, const T* out, const int* cu_seqlens, long long batch, int H, int KVH, int hd,
                           float scale) {
    constexpr int BQ = kWarps * R, C = HD / fsr::kWarpSize;
    __shared__ float smem[(kBackward ? 2 : 1) * BQ * HD + 2 * kKeyTile * HD];
    float* qs = smem;
    float* ks = qs + BQ * HD;
    float* vs = ks + kKeyTile * HD;
    float* dos = vs + kKeyTile * HD;  // backward only

    long long start, end, i0;
    if (!fsr::locate_tile(cu_seqlens, batch, blockIdx.x, BQ, start, end, i0)) return;
    const int h = blockIdx.y, kvh = h / (H / KVH);
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;
    load_tile<T, HD>(qs, BQ, q + h * hd, i0, end, q_stride, hd);
    if (kBackward) load_tile<T, HD>(dos, BQ, dout + h * hd, i0, end, q_stride, hd);
    __syncthreads();

    // Forward: running max m and sum l. Backward: D = dout.out and the saved lse, per row.
    float m[R], l[R], acc[R][C];
    #pragma unroll
    for (int r = 0; r < R; r++) {
        const long long row = i0 + warp * R + r;
        if (kBackward) {
            float part = 0.0f;
            #pragma unroll
            for (int c = 0; c < C; c++) {
                const int d = lane + c * fsr::kWarpSize;
                if (row < end && d < hd) part += dos[(warp * R + r) * HD + d] * fsr::to_float(out[row * q_stride + h * hd + d]);
            }
            m[r] = fsr::warp_sum(part);
            l[r] = row < end ? lse_in[row * H + h] : 0.0f;
        } else {
            m[r] = neg_inf();
            l[r] = 0.0f;
        }
        #pragma unroll
        for (int c = 0; c < C; c++) acc[r][c] = 0.0f;
    }

    const long long last = end < i0 + BQ ? end : i0 + BQ;  // one past the tile's last row
    for (long long j0 = start; j0 < last; j0 += kKeyTile) {
        __syncthreads();  // every warp is done with the previous key tile
        load_tile<T, HD>(ks, kKeyTile, k + kvh * hd, j0, last, kv_stride, hd);
        load_tile<T, HD>(vs, kKeyTile, v + kvh * hd, j0, last, kv_stride, hd);
        __syncthreads();

        float s[R], dp[R];
        #pragma unroll
        for (int r = 0; r < R; r++) s[r] = dp[r] = 0.0f;
        for (int d = 0; d < HD; d++) {
            const int dd = (d + lane) & (HD - 1);
            const float kd = ks[lane * HD + dd];
            const float vd = kBackward ? vs[lane * HD + dd] : 0.0f;
            #pragma unroll
            for (int r = 0; r < R; r++) {
                s[r] += qs[(warp * R + r) * HD + dd] * kd;
                if (kBackward) dp[r] += dos[(warp * R + r) * HD + dd] * vd;
            }
        }

        const long long j = j0 + lane;
        #pragma unroll
        for (int r = 0; r < R; r++) {
            // Rows past the sequence end see every key (all finite) and are never stored.
            const bool valid = j <= i0 + warp * R + r && j < end;
            if (kBackward) {
                const float p = valid ? expf(s[r] * scale - l[r]) : 0.0f;
                s[r] = p * (dp[r] - m[r]) * scale;
            } else {
                const float x = valid ? s[r] * scale : neg_inf();
                const float mnew = fmaxf(m[r], warp_max(x));
                const float corr = mnew == m[r] ? 1.0f : expf(m[r] - mnew);  // 0 on the first tile
                const float p = valid ? expf(x - mnew) : 0.0f;
                l[r] = l[r] * corr + fsr::warp_sum(p);
                m[r] = mnew;
                #pragma unroll
                for (int c = 0; c < C; c++) acc[r][c] *= corr;
                s[r] = p;
            }
        }

        const float* w = kBackward ? ks : vs;
        const int nk = last - j0 < kKeyTile ? (int)(last - j0) : kKeyTile;
        for (int jj = 0; jj < nk; jj++) {
            float wv[C];
            #pragma unroll
            for (int c = 0; c < C; c++) wv[c] = w[jj * HD + lane + c * fsr::kWarpSize];
            #pragma unroll
            for (int r = 0; r < R; r++) {
                const float p = __shfl_sync(0xffffffffu, s[r], jj);
                #pragma unroll
                for (int c = 0; c < C; c++) acc[r][c] += p * wv[c];
            }
        }
    }

    #pragma unroll
    for (int r = 0; r < R; r++) {
        const long long row = i0 + warp * R + r;
        if (row >= end) continue;
        const float inv = kBackward ? 1.0f : 1.0f / l[r];
        #pragma unroll
        for (int c = 0; c < C; c++) {
            const int d = lane + c * fsr::kWarpSize;
            if (d < hd) fsr::store(&result[row * q_stride + h * hd + d], acc[r][c] * inv);
        }
        if (!kBackward && lane == 0) lse_out[row * H + h] = m[r] + logf(l[r]);
    }
}

// dk and dv of one key tile of BK = kWarps * KW keys of kv head blockIdx.y; warp w owns keys
// w*KW .. w*KW + KW - 1. Queries of the G heads of the group stream through in tiles of 32.
// Scores: lane = query of the tile. Accumulation: lane = dimensions lane + 32 c.
template <typename T, int HD, int KW>
__device__ void key_tile(T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                         const T* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    constexpr int BK = kWarps * KW, C = HD / fsr::kWarpSize;
    __shared__ float smem[2 * kQueryTile * HD + 2 * BK * HD];
    float* qs = smem;
    float* dos = qs + kQueryTile * HD;
    float* ks = dos + kQueryTile * HD;
    float* vs = ks + BK * HD;

    long long start, end, j0;
    if (!fsr::locate_tile(cu_seqlens, batch, blockIdx.x, BK, start, end, j0)) return;
    const int kvh = blockIdx.y, G = H / KVH;
    const int lane = threadIdx.x % fsr::kWarpSize, warp = threadIdx.x / fsr::kWarpSize;
    const long long q_stride = (long long)H * hd, kv_stride = (long long)KVH * hd;
    load_tile<T, HD>(ks, BK, k + kvh * hd, j0, end, kv_stride, hd);
    load_tile<T, HD>(vs, BK, v + kvh * hd, j0, end, kv_stride, hd);

    float dka[KW][C], dva[KW][C];
    #pragma unroll
    for (int kk = 0; kk < KW; kk++)
        #pragma unroll
        for (int c = 0; c < C; c++) dka[kk][c] = dva[kk][c] = 0.0f;

    const float* kw = ks + warp * KW * HD;
    const float* vw = vs + warp * KW * HD;
    for (int g = 0; g < G; g++) {
        const int h = kvh * G + g;
        // Queries before j0 see none of these keys.
        for (long long i0 = j0; i0 < end; i0 += kQueryTile) {
            __syncthreads();  // every warp is done with the previous query tile
            load_tile<T, HD>(qs, kQueryTile, q + h * hd, i0, end, q_stride, hd);
            load_tile<T, HD>(dos, kQueryTile, dout + h * hd, i0, end, q_stride, hd);
            __syncthreads();

            const long long qi = i0 + lane;
            const bool row_ok = qi < end;
            // D_i, one query per lane; out is read along the same rotated order as the scores.
            float Di = 0.0f;
            if (row_ok)
                for (int d = 0; d < hd; d++) {
                    const int dd = (d + lane) % hd;
                    Di += dos[lane * HD + dd] * fsr::to_float(out[qi * q_stride + h * hd + dd]);
                }
            const float Li = row_ok ? lse[qi * H + h] : 0.0f;

            float p[KW], ds[KW];
            #pragma unroll
            for (int kk = 0; kk < KW; kk++) p[kk] = ds[kk] = 0.0f;
            for (int d = 0; d < HD; d++) {
                const int dd = (d + lane) & (HD - 1);
                const float qv = qs[lane * HD + dd], dov = dos[lane * HD + dd];
                #pragma unroll
                for (int kk = 0; kk < KW; kk++) {
                    p[kk] += qv * kw[kk * HD + dd];
                    ds[kk] += dov * vw[kk * HD + dd];
                }
            }
            #pragma unroll
            for (int kk = 0; kk < KW; kk++) {
                const long long j = j0 + warp * KW + kk;
                const bool valid = row_ok && j <= qi && j < end;
                p[kk] = valid ? expf(p[kk] * scale - Li) : 0.0f;
                ds[kk] = p[kk] * (ds[kk] - Di) * scale;
            }

            const int ni = end - i0 < kQueryTile ? (int)(end - i0) : kQueryTile;
            for (int i = 0; i < ni; i++) {
                float dov[C], qv[C];
                #pragma unroll
                for (int c = 0; c < C; c++) {
                    dov[c] = dos[i * HD + lane + c * fsr::kWarpSize];
                    qv[c] = qs[i * HD + lane + c * fsr::kWarpSize];
                }
                #pragma unroll
                for (int kk = 0; kk < KW; kk++) {
                    const float pk = __shfl_sync(0xffffffffu, p[kk], i);
                    const float dsk = __shfl_sync(0xffffffffu, ds[kk], i);
                    #pragma unroll
                    for (int c = 0; c < C; c++) {
                        dva[kk][c] += pk * dov[c];
                        dka[kk][c] += dsk * qv[c];
                    }
                }
            }
        }
    }

    #pragma unroll
    for (int kk = 0; kk < KW; kk++) {
        const long long j = j0 + warp * KW + kk;
        if (j >= end) continue;
        #pragma unroll
        for (int c = 0; c < C; c++) {
            const int d = lane + c * fsr::kWarpSize;
            if (d >= hd) continue;
            fsr::store(&dk[j * kv_stride + kvh * hd + d], dka[kk][c]);
            fsr::store(&dv[j * kv_stride + kvh * hd + d], dva[kk][c]);
        }
    }
}

}  // namespace attention

// Entry points per storage type and padded head_dim, written out (ptxas 11.8 crashes on kernels
// stamped out by a macro when line info is on). Forward: query tiles of 32 (8 rows per warp);
// dq: tiles of 16 (4 per warp), which also hold dout; dk/dv: key tiles of 32 up to HD 64 and 16
// at HD 128, so that every block fits in the 48 KiB of static shared memory.
extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_f32_32(float* out, float* lse,
        const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 32, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_f32_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_f32_32(float* dq, const float* dout,
        const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 32, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_f32_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_f32_32(float* dk, float* dv,
        const float* dout, const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<float, 32, 8>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_f32_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_f32_64(float* out, float* lse,
        const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 64, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_f32_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_f32_64(float* dq, const float* dout,
        const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 64, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_f32_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_f32_64(float* dk, float* dv,
        const float* dout, const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<float, 64, 8>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_f32_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_f32_128(float* out, float* lse,
        const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 128, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_f32_128)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_f32_128(float* dq, const float* dout,
        const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<float, 128, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_f32_128)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_f32_128(float* dk, float* dv,
        const float* dout, const float* out, const float* lse, const float* q, const float* k, const float* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<float, 128, 4>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_f32_128)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_bf16_32(fsr::bf16* out, float* lse,
        const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 32, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_bf16_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_bf16_32(fsr::bf16* dq, const fsr::bf16* dout,
        const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 32, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_bf16_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_bf16_32(fsr::bf16* dk, fsr::bf16* dv,
        const fsr::bf16* dout, const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<fsr::bf16, 32, 8>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_bf16_32)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_bf16_64(fsr::bf16* out, float* lse,
        const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 64, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_bf16_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_bf16_64(fsr::bf16* dq, const fsr::bf16* dout,
        const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 64, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_bf16_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_bf16_64(fsr::bf16* dk, fsr::bf16* dv,
        const fsr::bf16* dout, const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<fsr::bf16, 64, 8>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_bf16_64)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_forward_bf16_128(fsr::bf16* out, float* lse,
        const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch, int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 128, 8, false>(out, lse, nullptr, q, k, v, nullptr, nullptr, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_forward_bf16_128)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dq_bf16_128(fsr::bf16* dq, const fsr::bf16* dout,
        const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens, long long batch,
        int H, int KVH, int hd, float scale) {
    attention::query_tile<fsr::bf16, 128, 4, true>(dq, nullptr, lse, q, k, v, dout, out, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dq_bf16_128)

extern "C" __global__ void __launch_bounds__(attention::kThreads) attention_backward_dkdv_bf16_128(fsr::bf16* dk, fsr::bf16* dv,
        const fsr::bf16* dout, const fsr::bf16* out, const float* lse, const fsr::bf16* q, const fsr::bf16* k, const fsr::bf16* v, const int* cu_seqlens,
        long long batch, int H, int KVH, int hd, float scale) {
    attention::key_tile<fsr::bf16, 128, 4>(dk, dv, dout, out, lse, q, k, v, cu_seqlens, batch, H, KVH, hd, scale);
}
FSR_REGISTER_KERNEL(attention_backward_dkdv_bf16_128)
