// blas.h: the BLAS that fsr_gemm calls, loaded at run time by blas.cpp (or none).
#ifndef FSR_BLAS_H
#define FSR_BLAS_H

#include <cstdint>

// CBLAS enums as ints (CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112): no BLAS
// header is needed to build, since none is linked.
using fsr_sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using fsr_dgemm_fn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);

struct FsrBlas {
    fsr_sgemm_fn sgemm = nullptr;  // null: no BLAS, gemm.cpp's own GEMM runs
    fsr_dgemm_fn dgemm = nullptr;
    void (*set_threads)(int) = nullptr;
    const char* kind = "none";
};

// The loaded BLAS; the first call loads it (thread-safe).
const FsrBlas& fsr_blas();

// One line naming the BLAS, its version and the core it runs (for fsr_info).
const char* fsr_blas_description();

#endif
