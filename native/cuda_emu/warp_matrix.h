// warp_matrix.h: host twins of the warp-wide matrix instructions the tensor-core kernels use, run by
// the emulator's scheduler once all 32 lanes of a warp have arrived (fsr_emu::warp_matrix). Each twin
// gathers the lanes' fragments into whole matrices by the fragment layouts of NVIDIA's PTX ISA, computes,
// and hands every lane its own fragment back by the same layouts, so a kernel that puts an element
// in the wrong lane or register gets the wrong answer here as it would on a GPU.
//
// Layouts (PTX ISA 9.7.14.5.8, "Matrix Fragments for mma.m16n8k16 with floating point type", and
// the fragment layout of the ldmatrix instruction in 9.7.14), with g = lane / 4 (groupID) and t = lane % 4 (threadID_in_group); element
// i of a fragment is the low (i even) or high (i odd) half of 32-bit register i / 2:
//   A, 16x16 bf16, a0..a7:  row g + 8 * (i % 4 >= 2),  col 2t + i % 2 + 8 * (i >= 4)
//   B, 16x8 bf16,  b0..b3:  row 2t + i % 2 + 8 * (i >= 2),  col g
//   C, D, 16x8 f32, c0..c3: row g + 8 * (i >= 2),  col 2t + i % 2
//   ldmatrix .m8n8 .b16, .x1/.x2/.x4: lane 8j + r gives the address of row r of matrix j; register j
//   of every lane holds row g, cols 2t and 2t+1 of matrix j (.trans: rows 2t and 2t+1 of col g).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace fsr_emu {

bool in_shared_memory(const void* address, size_t bytes);

namespace warp_matrix_detail {

inline float bf16_value(uint32_t reg, int half) {
    uint32_t bits = (half ? reg >> 16 : reg & 0xffffu) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// Why an instruction is invalid, kept until the scheduler has copied it into the launch's error.
inline const char* reason(const char* format, int lane, const void* address) {
    static thread_local char text[160];
    std::snprintf(text, sizeof text, format, lane, address);
    return text;
}

}  // namespace warp_matrix_detail

// ---- mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: D = A B + C

// One lane's registers: its fragments of A, B and C, and (out) of D.
struct MmaLane {
    uint32_t a[4];
    uint32_t b[2];
    float c[4];
    float d[4];
};

inline void mma_a_position(int lane, int i, int& row, int& col) {
    row = (lane >> 2) + ((i & 2) ? 8 : 0);
    col = (lane & 3) * 2 + (i & 1) + (i >= 4 ? 8 : 0);
}
inline void mma_b_position(int lane, int i, int& row, int& col) {
    row = (lane & 3) * 2 + (i & 1) + (i >= 2 ? 8 : 0);
    col = lane >> 2;
}
inline void mma_c_position(int lane, int i, int& row, int& col) {
    row = (lane >> 2) + (i >= 2 ? 8 : 0);
    col = (lane & 3) * 2 + (i & 1);
}

// Products of bf16 values are exact in fp32; the sum of 16 of them and C is taken in double and
// rounded once, the exact result rounded to nearest (the hardware's order of additions is not
// specified; kernels compare with tolerances).
inline const char* mma_m16n8k16_bf16(void* const* lanes) {
    using warp_matrix_detail::bf16_value;
    float a[16][16], b[16][8], c[16][8];
    for (int lane = 0; lane < 32; lane++) {
        const MmaLane& l = *static_cast<const MmaLane*>(lanes[lane]);
        int row, col;
        for (int i = 0; i < 8; i++) {
            mma_a_position(lane, i, row, col);
            a[row][col] = bf16_value(l.a[i / 2], i % 2);
        }
        for (int i = 0; i < 4; i++) {
            mma_b_position(lane, i, row, col);
            b[row][col] = bf16_value(l.b[i / 2], i % 2);
            mma_c_position(lane, i, row, col);
            c[row][col] = l.c[i];
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        MmaLane& l = *static_cast<MmaLane*>(lanes[lane]);
        for (int i = 0; i < 4; i++) {
            int row, col;
            mma_c_position(lane, i, row, col);
            double sum = c[row][col];
            for (int k = 0; k < 16; k++) sum += static_cast<double>(a[row][k]) * b[k][col];
            l.d[i] = static_cast<float>(sum);
        }
    }
    return nullptr;
}

// ---- ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16

// One lane's operand: the address of the row it supplies (lanes 0 .. 8 * Count - 1), and (out) its registers.
struct LdmatrixLane {
    const void* row;
    uint32_t r[4];
};

template <int Count, bool Transpose>
inline const char* ldmatrix(void* const* lanes) {
    static_assert(Count == 1 || Count == 2 || Count == 4, "ldmatrix loads 1, 2 or 4 matrices");
    uint16_t m[Count][8][8];
    for (int lane = 0; lane < 8 * Count; lane++) {
        const void* address = static_cast<const LdmatrixLane*>(lanes[lane])->row;
        if (reinterpret_cast<uintptr_t>(address) % 16 != 0)
            return warp_matrix_detail::reason("lane %d's row address %p is not 16-byte aligned", lane, address);
        if (!in_shared_memory(address, 16))
            return warp_matrix_detail::reason("lane %d's row address %p is not in the block's shared memory", lane, address);
        std::memcpy(m[lane / 8][lane % 8], address, 16);
    }
    for (int lane = 0; lane < 32; lane++) {
        LdmatrixLane& l = *static_cast<LdmatrixLane*>(lanes[lane]);
        int g = lane >> 2, t = lane & 3;
        for (int j = 0; j < Count; j++) {
            uint32_t low = Transpose ? m[j][2 * t][g] : m[j][g][2 * t];
            uint32_t high = Transpose ? m[j][2 * t + 1][g] : m[j][g][2 * t + 1];
            l.r[j] = low | high << 16;
        }
    }
    return nullptr;
}

}  // namespace fsr_emu
