// library.cpp: what the library reports about itself (fsr_info) and the thread count every
// kernel uses (fsr_set_num_threads / fsr_get_num_threads, see parallel.h).
//
// fsr_info names the BLAS blas.cpp loaded and the core it runs: OpenBLAS can mistake a recent
// CPU for an old one and run GEMMs ~8x slower (docs/design.md, "Numbers"), and this line is where a
// benchmark shows it. The CPU features are those the binary was
// compiled for (-march), which is what decides whether the kernels vectorize.
#include "blas.h"
#include "common.h"
#include "parallel.h"

#include <algorithm>
#include <cstdio>
#include <string>

std::atomic<int32_t> fsr_thread_setting{0};

static std::string cpu_features() {
    std::string f;
#ifdef __AVX512F__
    f += " AVX512F";
#endif
#ifdef __AVX512BW__
    f += " AVX512BW";
#endif
#ifdef __AVX512VL__
    f += " AVX512VL";
#endif
#ifdef __AVX2__
    f += " AVX2";
#endif
#ifdef __AVX__
    f += " AVX";
#endif
#ifdef __FMA__
    f += " FMA";
#endif
#ifdef __F16C__
    f += " F16C";
#endif
#ifdef __SSE4_2__
    f += " SSE4.2";
#endif
#ifdef __ARM_NEON
    f += " NEON";
#endif
    return f.empty() ? std::string(" baseline") : f;
}

extern "C" int64_t fsr_info(char* buf, int64_t capacity) {
    std::string blas = fsr_blas_description();
    // snprintf, not std::to_string: the latter exports a libstdc++ symbol from this library.
    char threads[16];
    std::snprintf(threads, sizeof threads, "%d", fsr_threads());
    std::string line = "BLAS: " + blas + "; OpenMP threads: " + threads + "; CPU features:" + cpu_features();
    if (buf != nullptr && capacity > 0) {
        int64_t copy = std::min<int64_t>(capacity - 1, (int64_t)line.size());
        line.copy(buf, (size_t)copy);
        buf[copy] = '\0';
    }
    return (int64_t)line.size();
}

// threads <= 0 returns to OpenMP's default.
extern "C" void fsr_set_num_threads(int32_t threads) {
    fsr_thread_setting.store(threads > 0 ? threads : 0, std::memory_order_relaxed);
    // Kernels of this library pass the count explicitly; this also covers OpenMP regions
    // started from the calling thread that do not (BLAS built with OpenMP, other files).
    if (threads > 0) omp_set_num_threads(threads);
    const FsrBlas& blas = fsr_blas();
    if (blas.set_threads != nullptr) blas.set_threads(fsr_threads());
}

extern "C" int32_t fsr_get_num_threads(void) { return fsr_threads(); }
