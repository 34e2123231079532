// fast_exp.h: an exp that the compiler can vectorize, for the softmax loops of attention,
// decode attention and the sampler.
//
// glibc's expf is a scalar call unless the build uses -ffast-math (only then does math.h
// declare the vector variants), and in a softmax over a 64-key tile that call costs more
// than the two dot products around it. fsr_exp<float> is Cephes' expf: Cody-Waite range
// reduction x = k ln2 + r (|r| <= ln2 / 2), a degree-7 polynomial for e^r (about 1 ulp over the range used
// here), and 2^k assembled in the exponent bits; every step is plain arithmetic, so a loop
// over it becomes AVX/AVX-512 code. Results that would be subnormal (x < -87) flush to
// exactly 0, which is what a softmax wants for a masked or vanishing term and keeps the
// exponent arithmetic in range; exp(-inf) is 0. The f64 build serves the
// finite-difference tests, where accuracy matters and speed does not, so it is std::exp.
#ifndef FSR_FAST_EXP_H
#define FSR_FAST_EXP_H

#include <cmath>
#include <cstdint>

template <typename T>
inline T fsr_exp(T x) { return std::exp(x); }

template <>
inline float fsr_exp<float>(float x) {
    // Ternaries, not std::fmin/fmax: those are library calls that stop vectorization.
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    // Round to nearest by adding and subtracting 1.5 * 2^23 (std::floor is a library call
    // without -ffast-math, which would keep the loop scalar).
    float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    // ln2 split so that k * 0.693359375 is exact in float (Cody-Waite).
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const float two_k = __builtin_bit_cast(float, ((int32_t)k + 127) << 23);
    // The flush to 0 is a bit mask, not a conditional expression: under the default
    // -ftrapping-math the compiler will not if-convert a branch holding a multiply.
    const int32_t keep = -(int32_t)(x >= -87.0f);
    return __builtin_bit_cast(float, __builtin_bit_cast(int32_t, p * two_k) & keep);
}

#endif
