// common.h: what every CPU kernel file shares: the C ABI header, OpenMP, and the macro that
// exports one template as its _f32 and _f64 entry points.
#ifndef FSR_COMMON_H
#define FSR_COMMON_H

#include "fsr_native.h"
#include <cmath>
#include <cstdint>
#include <omp.h>

// Loops shorter than this run on one thread: waking the OpenMP team costs more than it saves.
constexpr int64_t FSR_PARALLEL_GRAIN = 1 << 14;

#endif
