// kv_cache.cu: writes new key/value rows into one layer's paged KV cache. Same as
// native/cpu/kv_cache.cpp:
//   k, v [n, KVH, hd]  ->  k_cache, v_cache [num_blocks, block_size, KVH, hd] at slots[n]
//   (slot = block * block_size + offset, resolved by the caller); a negative slot is skipped.
// Storage fp32 (_f32) or bf16 (_bf16); a pure copy, so the bits are kept exactly.
//
// Launch: grid (n), 128 threads; block i copies row i (width = KVH * hd values) of k and v.
// Why fast: a slot's KVH * hd values are contiguous in the cache as a token's are in k and v,
// so each row is two coalesced copies, 16 bytes per thread per load when the width and the
// bases allow (always, for the model's head sizes), else one element at a time.
#include "common/common.cuh"

namespace kv_cache {

template <typename T, typename P>
__device__ void copy_row(T* k_cache, T* v_cache, const T* k, const T* v, long long slot, long long width) {
    const long long i = blockIdx.x;
    const long long packs = width / (sizeof(P) / sizeof(T));
    const P* ks = reinterpret_cast<const P*>(k + i * width);
    const P* vs = reinterpret_cast<const P*>(v + i * width);
    P* kd = reinterpret_cast<P*>(k_cache + slot * width);
    P* vd = reinterpret_cast<P*>(v_cache + slot * width);
    for (long long p = threadIdx.x; p < packs; p += blockDim.x) {
        kd[p] = ks[p];
        vd[p] = vs[p];
    }
}

template <typename T>
__device__ void write(T* k_cache, T* v_cache, const T* k, const T* v, const int* slots, long long width) {
    const long long slot = slots[blockIdx.x];
    if (slot < 0) return;
    if (width % fsr::Pack16<T>::N == 0 && fsr::aligned16(k_cache, v_cache) && fsr::aligned16(k, v))
        copy_row<T, fsr::Pack16<T>>(k_cache, v_cache, k, v, slot, width);
    else
        copy_row<T, T>(k_cache, v_cache, k, v, slot, width);
}

}  // namespace kv_cache

extern "C" __global__ void __launch_bounds__(128) kv_cache_write_f32(float* k_cache, float* v_cache, const float* k,
        const float* v, const int* slots, long long width) {
    kv_cache::write(k_cache, v_cache, k, v, slots, width);
}
FSR_REGISTER_KERNEL(kv_cache_write_f32)

extern "C" __global__ void __launch_bounds__(128) kv_cache_write_bf16(fsr::bf16* k_cache, fsr::bf16* v_cache,
        const fsr::bf16* k, const fsr::bf16* v, const int* slots, long long width) {
    kv_cache::write(k_cache, v_cache, k, v, slots, width);
}
FSR_REGISTER_KERNEL(kv_cache_write_bf16)
