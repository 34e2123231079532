// warp_matrix_probe.cu: not an op of the model. One warp runs a tensor-core instruction of
// common/mma.cuh on operands given lane by lane and writes back what each lane receives, so that a
// test can hold the result against the PTX ISA's fragment tables: the emulator's twins in CI
// (tests/.../Compute/Cuda/WarpMatrixTests.cs), and a GPU's own instructions where there is one.
//
// warp_matrix_probe_mma: lane l passes a[4l..4l+3], b[2l..2l+1] (bf16 pairs) and c[4l..4l+3]
//   and receives d[4l..4l+3]. Launch: one block of 32 threads. missing_lane >= 0 leaves that lane out
//   (it returns first): an invalid launch the emulator must report.
// warp_matrix_probe_ldmatrix: tile[512] (16-bit) is copied into shared memory; lane l passes the row
//   at tile + offsets[l] (in elements) and receives r[4l..4l+count-1] of ldmatrix.x<count>[.trans].
//   from_global reads the rows from global memory instead: invalid, for the emulator to report.
#include "common/common.cuh"
#include "common/mma.cuh"

extern "C" __global__ void __launch_bounds__(32) warp_matrix_probe_mma(const unsigned* a, const unsigned* b, const float* c, float* d,
                                                                        int missing_lane) {
    int lane = threadIdx.x;
    if (lane == missing_lane) return;
    unsigned fa[4] = {a[4 * lane], a[4 * lane + 1], a[4 * lane + 2], a[4 * lane + 3]};
    unsigned fb[2] = {b[2 * lane], b[2 * lane + 1]};
    float fc[4] = {c[4 * lane], c[4 * lane + 1], c[4 * lane + 2], c[4 * lane + 3]};
    float fd[4];
    fsr::mma_m16n8k16_bf16(fd, fa, fb, fc);
    for (int i = 0; i < 4; i++) d[4 * lane + i] = fd[i];
}
FSR_REGISTER_KERNEL(warp_matrix_probe_mma)

namespace warp_matrix_probe {

template <int N, bool Transpose>
__device__ void load(const void* row, unsigned* out) {
    unsigned r[N];
    fsr::ldmatrix<N, Transpose>(r, row);
    for (int j = 0; j < N; j++) out[j] = r[j];
}

}  // namespace warp_matrix_probe

extern "C" __global__ void __launch_bounds__(32) warp_matrix_probe_ldmatrix(const unsigned short* tile, const int* offsets, unsigned* r,
                                                                             int count, int transpose, int from_global) {
    __shared__ __align__(16) unsigned short shared_tile[512];
    int lane = threadIdx.x;
    for (int i = lane; i < 512; i += 32) shared_tile[i] = tile[i];
    __syncthreads();
    const void* row = (from_global ? tile : shared_tile) + offsets[lane];
    unsigned* out = r + 4 * lane;
    if (count == 1 && !transpose) warp_matrix_probe::load<1, false>(row, out);
    else if (count == 1) warp_matrix_probe::load<1, true>(row, out);
    else if (count == 2 && !transpose) warp_matrix_probe::load<2, false>(row, out);
    else if (count == 2) warp_matrix_probe::load<2, true>(row, out);
    else if (!transpose) warp_matrix_probe::load<4, false>(row, out);
    else warp_matrix_probe::load<4, true>(row, out);
}
FSR_REGISTER_KERNEL(warp_matrix_probe_ldmatrix)

// warp_matrix_probe_tile: d (16x8 fp32, row-major) = a (16x16 bf16, row-major) b (16x8 bf16, row-major,
//   rows indexed by k), as a tensor-core kernel computes a tile: both operands staged in shared memory,
//   A's fragments by ldmatrix.x4, B's by ldmatrix.x2.trans, one mma, D stored by its fragment layout.
extern "C" __global__ void __launch_bounds__(32) warp_matrix_probe_tile(const unsigned short* a, const unsigned short* b, float* d) {
    __shared__ __align__(16) unsigned short shared_a[16 * 16];
    __shared__ __align__(16) unsigned short shared_b[16 * 8];
    int lane = threadIdx.x;
    for (int i = lane; i < 16 * 16; i += 32) shared_a[i] = a[i];
    for (int i = lane; i < 16 * 8; i += 32) shared_b[i] = b[i];
    __syncthreads();
    // A's four 8x8 matrices are its quadrants in the order of the fragment's registers: rows 0-7 and
    // 8-15 of columns 0-7, then of columns 8-15; lane 8j + i gives row i of matrix j.
    int j = lane / 8, i = lane % 8;
    unsigned fa[4], fb[2];
    fsr::ldmatrix<4, false>(fa, shared_a + ((j & 1) * 8 + i) * 16 + (j >> 1) * 8);
    // B's two matrices are rows k 0-7 and 8-15; transposed, each lane holds two consecutive k of column g.
    fsr::ldmatrix<2, true>(fb, shared_b + (lane % 16) * 8);
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, out[4];
    fsr::mma_m16n8k16_bf16(out, fa, fb, c);
    int g = lane / 4, t = lane % 4;
    d[g * 8 + 2 * t] = out[0];
    d[g * 8 + 2 * t + 1] = out[1];
    d[(g + 8) * 8 + 2 * t] = out[2];
    d[(g + 8) * 8 + 2 * t + 1] = out[3];
}
FSR_REGISTER_KERNEL(warp_matrix_probe_tile)
