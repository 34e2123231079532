// fast_exp.h: an exp that the compiler can vectorize, for the softmax loops of attention,
// decode attention and the sampler.
//
// glibc's expf is a scalar call unless the build uses -ffast-math (only then does math.h
// declare the vector variants), and in a softmax over a 64-key tile that call costs more
// than the two dot products around it. fsr_exp<float> is Cephes' expf: Cody-Waite range
// reduction x = k ln2 + r, a degree-7 polynomial for e^r (about 1 ulp over the range used
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
    float xc = std::fmin(std::fmax(x, -87.0f), 88.0f);
    float k = std::floor(xc * 1.44269504088896341f + 0.5f);
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
    int32_t bits = ((int32_t)k + 127) << 23;
    float two_k = __builtin_bit_cast(float, bits);
    return x < -87.0f ? 0.0f : p * two_k;
}

#endif
