// parallel.h: how many OpenMP threads a kernel of this library uses.
//
// omp_set_num_threads only changes the calling thread's setting, and the C# side calls the
// kernels from whichever managed thread runs the step (thread pool, test runner). So the
// count set by fsr_set_num_threads lives in one process-wide variable, and every parallel
// region passes it explicitly: num_threads(fsr_threads()).
#ifndef FSR_PARALLEL_H
#define FSR_PARALLEL_H

#include <atomic>
#include <cstdint>
#include <omp.h>

// 0 means "OpenMP's default" (OMP_NUM_THREADS or the core count). Defined in library.cpp.
extern std::atomic<int32_t> fsr_thread_setting;

inline int fsr_threads() {
    int32_t t = fsr_thread_setting.load(std::memory_order_relaxed);
    return t > 0 ? t : omp_get_max_threads();
}

#endif
