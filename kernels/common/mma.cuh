// mma.cuh: the warp-wide tensor-core instructions the attention kernels are built on, as device
// functions. On a GPU (NVRTC, sm_80 and later) each is one PTX instruction; on the emulator each
// parks the lane until its warp has arrived and runs the instruction's host twin
// (native/cuda_emu/warp_matrix.h), which follows the PTX ISA's fragment layouts lane by lane.
//
//   mma_m16n8k16_bf16(d, a, b, c)   D = A B + C; A 16x16 and B 16x8 bf16 (two per 32-bit register),
//                                   C and D 16x8 fp32: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//   ldmatrix<N, T>(r, row)          N = 1, 2 or 4 8x8 matrices of 16-bit elements from shared memory,
//                                   lane 8j + i giving the 16-byte-aligned row i of matrix j;
//                                   T transposes each: ldmatrix.sync.aligned.m8n8.xN[.trans].shared.b16
//
// Fragment layouts (g = lane / 4, t = lane % 4; element i is the low or high half of register i / 2):
//   A: row g + 8 * (i % 4 >= 2), col 2t + i % 2 + 8 * (i >= 4);  B: row 2t + i % 2 + 8 * (i >= 2), col g;
//   C, D: row g + 8 * (i >= 2), col 2t + i % 2;  ldmatrix register j: row g, cols 2t, 2t + 1 of matrix j.
// Every lane of the warp must execute the same instruction (all 32; the emulator checks).
#pragma once

#include "common/common.cuh"

#ifdef FSR_CUDA_EMU
// The emulator names the kernel's line, not this header's, when a warp diverges or an address is bad.
#define FSR_MMA_CALLER , const char* fsr_file = __builtin_FILE(), int fsr_line = __builtin_LINE()
#else
#define FSR_MMA_CALLER
#endif

namespace fsr {

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2],
                                                  const float (&c)[4] FSR_MMA_CALLER) {
#ifdef FSR_CUDA_EMU
    fsr_emu::MmaLane lane;
    for (int i = 0; i < 4; i++) lane.a[i] = a[i], lane.c[i] = c[i];
    lane.b[0] = b[0];
    lane.b[1] = b[1];
    fsr_emu::warp_matrix(fsr_file, fsr_line, "mma.sync.m16n8k16.bf16", &fsr_emu::mma_m16n8k16_bf16, &lane);
    for (int i = 0; i < 4; i++) d[i] = lane.d[i];
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#endif
}

template <int N, bool Transpose>
__device__ __forceinline__ void ldmatrix(unsigned (&r)[N], const void* row FSR_MMA_CALLER) {
    static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#ifdef FSR_CUDA_EMU
    fsr_emu::LdmatrixLane lane{row, {}};
    static constexpr const char* names[2][5] = {
        {"", "ldmatrix.x1", "ldmatrix.x2", "", "ldmatrix.x4"}, {"", "ldmatrix.x1.trans", "ldmatrix.x2.trans", "", "ldmatrix.x4.trans"}};
    fsr_emu::warp_matrix(fsr_file, fsr_line, names[Transpose][N], &fsr_emu::ldmatrix<N, Transpose>, &lane);
    for (int j = 0; j < N; j++) r[j] = lane.r[j];
#else
    unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 1 && !Transpose)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
    else if constexpr (N == 1)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
    else if constexpr (N == 2 && !Transpose)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(address));
    else if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(address));
    else if constexpr (!Transpose)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
#endif
}

}  // namespace fsr

#undef FSR_MMA_CALLER
