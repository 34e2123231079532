// rope.cu: rotary position embedding, in place on x [n, heads, head_dim], Hugging Face
// rotate-half pairing. Same math as native/cpu/rope.cpp: for i < half = head_dim/2, dimensions i
// and i + half form a pair rotated by angle = positions[row] * inv_freq[i] (inv_freq [half] fp64 from
// the host: theta^(-2i/head_dim), with Llama 3's scaling when the model has it):
//   forward:  (x_i, x_{i+half}) <- (x_i cos - x_{i+half} sin, x_{i+half} cos + x_i sin)
//   backward: the inverse rotation of the gradient (the forward with -sin), also in place.
// Storage fp32 (_f32) or bf16 (_bf16), rotation in fp32. positions [n] int32 (batches are ragged
// and packed, so a row's position is not its index).
//
// The angle is computed in double, as on the CPU: positions reach tens of thousands and the
// slowest frequencies are ~1e-4, so a float angle (or sincosf's range reduction of it) would lose
// several digits; cos and sin are then rounded to float once, so they match the CPU's to the
// last bit or one ulp, and the rotation differs from the CPU's only by fused multiply-adds.
//
// Launch: grid (n), block min(256, heads*half/W rounded up to a warp), W = 16/sizeof(T) when half
// is a multiple of W and x is 16-byte aligned, else 1; static shared memory 2 KiB.
// Why fast: one block per row computes cos/sin of each of the row's pairs once into shared memory
// (in chunks of 256 pairs, so any head_dim fits) and all heads of the row reuse them, so the
// double-precision sin/cos cost half a head's worth per row, not per element. The rotation
// then reads each half of each head with 16-byte loads, consecutive threads taking consecutive
// packs of a head: a memory stream, one read and one write per value.
#include "common/common.cuh"

namespace rope {

constexpr int kChunk = 256;

template <typename T, int W>
__device__ void rotate(T* x, const int* positions, const double* inv_freq, long long heads, long long head_dim, float sign,
        float* cs, float* sn) {
    using V = fsr::Vec<T, W>;
    const long long row = blockIdx.x;
    const long long half = head_dim / 2;
    const double pos = (double)positions[row];
    T* xr = x + row * heads * head_dim;
    for (long long p0 = 0; p0 < half; p0 += kChunk) {
        const long long pb = half - p0 < kChunk ? half - p0 : kChunk;
        if (p0 > 0) __syncthreads();  // the previous chunk's table is fully read
        for (long long p = threadIdx.x; p < pb; p += blockDim.x) {
            const double angle = pos * inv_freq[p0 + p];
            cs[p] = (float)cos(angle);
            sn[p] = sign * (float)sin(angle);
        }
        __syncthreads();
        const long long vectors = pb / W;
        for (long long item = threadIdx.x; item < heads * vectors; item += blockDim.x) {
            const long long h = item / vectors, q = item % vectors;
            V* lo = reinterpret_cast<V*>(xr + h * head_dim + p0 + q * W);
            V* hi = reinterpret_cast<V*>(xr + h * head_dim + half + p0 + q * W);
            V a = *lo, b = *hi;
            #pragma unroll
            for (int k = 0; k < W; k++) {
                const float c = cs[q * W + k], s = sn[q * W + k];
                const float ak = fsr::to_float(a.v[k]), bk = fsr::to_float(b.v[k]);
                fsr::store(&a.v[k], ak * c - bk * s);
                fsr::store(&b.v[k], bk * c + ak * s);
            }
            *lo = a;
            *hi = b;
        }
    }
}

template <typename T>
__device__ void launch(T* x, const int* positions, const double* inv_freq, long long heads, long long head_dim, float sign) {
    // One table for both instantiations (static shared arrays in each would be allocated twice).
    __shared__ float cs[kChunk], sn[kChunk];
    if ((head_dim / 2) % fsr::Pack16<T>::N == 0 && fsr::aligned16(x))
        rotate<T, fsr::Pack16<T>::N>(x, positions, inv_freq, heads, head_dim, sign, cs, sn);
    else
        rotate<T, 1>(x, positions, inv_freq, heads, head_dim, sign, cs, sn);
}

}  // namespace rope

extern "C" __global__ void __launch_bounds__(256) rope_forward_f32(float* x, const int* positions, const double* inv_freq,
        long long heads, long long head_dim) {
    rope::launch(x, positions, inv_freq, heads, head_dim, 1.0f);
}
FSR_REGISTER_KERNEL(rope_forward_f32)

extern "C" __global__ void __launch_bounds__(256) rope_forward_bf16(fsr::bf16* x, const int* positions, const double* inv_freq,
        long long heads, long long head_dim) {
    rope::launch(x, positions, inv_freq, heads, head_dim, 1.0f);
}
FSR_REGISTER_KERNEL(rope_forward_bf16)

extern "C" __global__ void __launch_bounds__(256) rope_backward_f32(float* dx, const int* positions, const double* inv_freq,
        long long heads, long long head_dim) {
    rope::launch(dx, positions, inv_freq, heads, head_dim, -1.0f);
}
FSR_REGISTER_KERNEL(rope_backward_f32)

extern "C" __global__ void __launch_bounds__(256) rope_backward_bf16(fsr::bf16* dx, const int* positions, const double* inv_freq,
        long long heads, long long head_dim) {
    rope::launch(dx, positions, inv_freq, heads, head_dim, -1.0f);
}
FSR_REGISTER_KERNEL(rope_backward_bf16)
