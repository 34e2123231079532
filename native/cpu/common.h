// common.h: what every CPU kernel file shares: the C ABI header, <cmath>, OpenMP and the
// parallel grain. Each op file defines one template and two extern "C" wrappers (_f32, _f64).
#ifndef FSR_COMMON_H
#define FSR_COMMON_H

#include "fsr_native.h"
#include <cmath>
#include <cstdint>
#include <omp.h>

// Loops shorter than this run on one thread: waking the OpenMP team costs more than it saves.
constexpr int64_t FSR_PARALLEL_GRAIN = 1 << 14;

#endif
