// embedding.cu: token embedding lookup and its gradient. Same math as native/cpu/embedding.cpp:
//   forward:  out[i,:] = table[tokens[i],:]           table [V, C], out [n, C], tokens [n] int32
//   backward: dtable[tokens[i],:] += dout[i,:]        dtable fp32 (parameter gradient, accumulates)
// Storage of table/out/dout: fp32 (_f32) or bf16 (_bf16). Token ids are trusted (0 <= id < V).
//
// Launch: forward grid (n, ceil(C/(256*N))), N = 16/sizeof(T), block 256: blocks of one row copy
//         its columns in a grid-stride loop (any grid.y is correct).
//         backward grid (ceil(C/256), slices), block 256, with 1 <= slices <= min(V, 65535).
// Why fast: the forward is a row gather with coalesced reads and writes and no index division,
// 16 bytes per thread per load when the row width and the bases allow (the model's always do).
// The backward is deterministic without float atomics (llm.c needs a host-side bucket sort for
// that): thread (column j, slice s) owns dtable[v, j] for every token v with v % slices == s and
// walks the n tokens in order, so each dtable element receives its additions in row order, the
// same sum as the serial CPU loop, on every run. The token stream is read by every slice but is
// tiny and L2-resident; slices multiply the parallelism beyond C threads (interleaved by id, since
// frequent tokens cluster at low ids), and the caller sizes them to fill the GPU.
#include "common/common.cuh"

namespace embedding {

template <typename T, int W>
__device__ void forward(T* out, const int* tokens, const T* table, long long C) {
    using V = fsr::Vec<T, W>;
    const long long row = blockIdx.x;
    const V* src = reinterpret_cast<const V*>(table + (long long)tokens[row] * C);
    V* dst = reinterpret_cast<V*>(out + row * C);
    const long long vectors = C / W;
    for (long long p = (long long)blockIdx.y * blockDim.x + threadIdx.x; p < vectors; p += (long long)gridDim.y * blockDim.x)
        dst[p] = src[p];
}

template <typename T>
__device__ void forward(T* out, const int* tokens, const T* table, long long C) {
    constexpr int N = fsr::Pack16<T>::N;
    if (C % N == 0 && fsr::aligned16(out, table)) forward<T, N>(out, tokens, table, C);
    else forward<T, 1>(out, tokens, table, C);
}

template <typename T>
__device__ void backward(float* dtable, const T* dout, const int* tokens, long long n, long long C) {
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C) return;
    const int slices = gridDim.y;
    const int slice = blockIdx.y;
    for (long long i = 0; i < n; i++) {
        const int token = tokens[i];
        if (token % slices != slice) continue;
        dtable[(long long)token * C + j] += fsr::to_float(dout[i * C + j]);
    }
}

}  // namespace embedding

extern "C" __global__ void embedding_forward_f32(float* out, const int* tokens, const float* table, long long C) {
    embedding::forward(out, tokens, table, C);
}
FSR_REGISTER_KERNEL(embedding_forward_f32)

extern "C" __global__ void embedding_forward_bf16(fsr::bf16* out, const int* tokens, const fsr::bf16* table, long long C) {
    embedding::forward(out, tokens, table, C);
}
FSR_REGISTER_KERNEL(embedding_forward_bf16)

extern "C" __global__ void embedding_backward_f32(float* dtable, const float* dout, const int* tokens, long long n, long long C) {
    embedding::backward(dtable, dout, tokens, n, C);
}
FSR_REGISTER_KERNEL(embedding_backward_f32)

extern "C" __global__ void embedding_backward_bf16(float* dtable, const fsr::bf16* dout, const int* tokens, long long n,
        long long C) {
    embedding::backward(dtable, dout, tokens, n, C);
}
FSR_REGISTER_KERNEL(embedding_backward_bf16)
