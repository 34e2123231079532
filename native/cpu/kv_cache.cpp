// kv_cache.cpp: writes new key/value rows into one layer's paged KV cache.
//   k, v [n, KVH, hd]  ->  k_cache, v_cache [num_blocks, block_size, KVH, hd] at slots[n],
//   slot = block * block_size + offset (the caller resolves its block table into slots).
// A slot's KVH * hd values are contiguous in the cache, as a token's are in k and v, so a
// row is two memcpy. Rows go in parallel (each writes its own slot); a negative slot marks a
// row that has no place in the cache and is skipped.
#include "common.h"
#include "parallel.h"

#include <cstring>

namespace {

template <typename T>
void kv_cache_write(T* k_cache, T* v_cache, const T* k, const T* v, const int32_t* slots, int64_t n, int64_t KVH, int64_t hd) {
    const int64_t row = KVH * hd;
    #pragma omp parallel for num_threads(fsr_threads()) if(n * row > FSR_PARALLEL_GRAIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const int64_t slot = slots[i];
        if (slot < 0) continue;
        std::memcpy(k_cache + slot * row, k + i * row, (size_t)row * sizeof(T));
        std::memcpy(v_cache + slot * row, v + i * row, (size_t)row * sizeof(T));
    }
}

}  // namespace

extern "C" {

void fsr_kv_cache_write_f32(float* k_cache, float* v_cache, const float* k, const float* v, const int32_t* slots, int64_t n, int64_t KVH, int64_t hd) {
    kv_cache_write(k_cache, v_cache, k, v, slots, n, KVH, hd);
}
void fsr_kv_cache_write_f64(double* k_cache, double* v_cache, const double* k, const double* v, const int32_t* slots, int64_t n, int64_t KVH, int64_t hd) {
    kv_cache_write(k_cache, v_cache, k, v, slots, n, KVH, hd);
}

}
