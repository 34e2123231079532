// cuda_emu.h: turns the CUDA C++ of kernels/*.cu into host C++ for g++, so the same sources that
// NVRTC compiles for the GPU also run on the CPU (native/cuda_emu/runtime.cpp runs them).
// It is force-included (-include cuda_emu.h) before every kernel file.
//
// How the GPU's execution model maps onto the host:
// - every CUDA thread is a fiber; a block's fibers all run on one OS thread and switch only at
//   barriers and warp operations, which park the fiber until its whole group has arrived;
// - threadIdx and friends are per-OS-thread variables that the scheduler sets before resuming
//   a fiber, and static __shared__ variables are per-OS-thread statics: a block never leaves its
//   OS thread, so "per OS thread" means "per running block". They live in a section of their own
//   (fsr_shared) so that the runtime can poison all of them with NaN before each block;
// - every parking call carries __FILE__/__LINE__, so divergent barriers and deadlocks are reported
//   with the source lines involved.
// Kernels are registered by FSR_REGISTER_KERNEL(name), which records how to unpack
// cuLaunchKernel's `void** params` into the typed parameters of `name`.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#define FSR_CUDA_EMU 1

// ---------------------------------------------------------------------------------------------
// Built-in types and variables

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Vector types, with the GPU's alignment so that reinterpret_casts and alignment checks agree.
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned int x, unsigned int y) { return {x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return {x, y, z, w}; }

// __thread (not thread_local): plain TLS with no init wrapper, and hidden, so that kernels reach
// these with the cheap module-local TLS sequence. One copy per OS thread = per running block.
#define FSR_EMU_TLS extern __thread __attribute__((visibility("hidden")))
FSR_EMU_TLS uint3 threadIdx;
FSR_EMU_TLS uint3 blockIdx;
FSR_EMU_TLS dim3 blockDim;
FSR_EMU_TLS dim3 gridDim;
#undef FSR_EMU_TLS
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------------
// Qualifiers

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is already a g++ keyword.
#define __shared__ static thread_local __attribute__((section("fsr_shared")))
// NVRTC: `extern __shared__ T name[]`, which no macro can produce under g++ (conflicting
// specifiers), so kernels declare dynamic shared memory through this macro.
#define FSR_EXTERN_SHARED(type, name) type* const name = reinterpret_cast<type*>(fsr_emu::dynamic_shared_memory())

// ---------------------------------------------------------------------------------------------
// Runtime hooks (runtime.cpp)

namespace fsr_emu {

enum class WarpOp : int { Sync, ShuffleIndex, ShuffleXor, ShuffleDown, ShuffleUp, Ballot, All, Any, Matrix };

void* dynamic_shared_memory();
void sync_threads(const char* file, int line);
// Parks the calling lane until every live lane of its warp arrives; returns what the lane
// receives (for shuffles: the payload of its source lane; for votes: the ballot mask).
uint64_t warp_op(const char* file, int line, WarpOp op, unsigned mask, uint64_t payload, int lane_arg, int width);
[[noreturn]] void trap(const char* file, int line);

// A warp-wide matrix instruction (mma.sync, ldmatrix; twins in warp_matrix.h): the lane parks until
// all 32 lanes of its warp reach the same instruction, then `compute` runs once, on the block's OS
// thread, with every lane's `lane_data` by lane, before any lane resumes. It returns null, or why
// the instruction is invalid (the launch then fails, naming the call site).
using WarpMatrixCompute = const char* (*)(void* const* lanes);
void warp_matrix(const char* file, int line, const char* instruction, WarpMatrixCompute compute, void* lane_data);

// Whether [address, address + bytes) lies in the running block's shared memory (static or dynamic).
bool in_shared_memory(const void* address, size_t bytes);

template <typename T>
inline T shuffle(const char* file, int line, WarpOp op, unsigned mask, T value, int lane_arg, int width) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffles move values of at most 8 bytes");
    uint64_t payload = 0;
    std::memcpy(&payload, &value, sizeof(T));
    uint64_t received = warp_op(file, line, op, mask, payload, lane_arg, width);
    T result;
    std::memcpy(&result, &received, sizeof(T));
    return result;
}

// ---- kernel registry: cuLaunchKernel's `void** params` back into typed arguments

struct KernelInfo {
    const char* name;
    const char* file;
    void (*function)();                         // the kernel, type-erased
    void (*invoke)(void (*)(), void* const*);   // calls it with unpacked params
    int parameter_count;
    const size_t* parameter_sizes;
    const size_t* pointee_alignments;           // alignof(*p) for pointer parameters, 0 otherwise
};
void register_kernel(const KernelInfo* kernel);

template <typename T>
constexpr size_t pointee_alignment() {
    if constexpr (std::is_pointer<T>::value) {
        using Pointee = std::remove_cv_t<std::remove_pointer_t<T>>;
        if constexpr (std::is_void<Pointee>::value) return 1;
        else return alignof(Pointee);
    } else {
        return 0;
    }
}

template <typename... Args>
struct KernelSignature {
    static constexpr size_t sizes[sizeof...(Args) + 1] = {sizeof(Args)..., 0};
    static constexpr size_t alignments[sizeof...(Args) + 1] = {pointee_alignment<Args>()..., 0};

    template <size_t... I>
    static void call(void (*kernel)(Args...), void* const* params, std::index_sequence<I...>) {
        kernel(*static_cast<std::remove_reference_t<Args>*>(params[I])...);
    }
    static void invoke(void (*erased)(), void* const* params) {
        call(reinterpret_cast<void (*)(Args...)>(erased), params, std::index_sequence_for<Args...>{});
    }
};

struct KernelRegistration {
    KernelInfo info;
    template <typename... Args>
    KernelRegistration(const char* name, const char* file, void (*kernel)(Args...))
        : info{name, file, reinterpret_cast<void (*)()>(kernel), &KernelSignature<Args...>::invoke,
               static_cast<int>(sizeof...(Args)), KernelSignature<Args...>::sizes, KernelSignature<Args...>::alignments} {
        register_kernel(&info);
    }
};

}  // namespace fsr_emu

#define FSR_REGISTER_KERNEL(name) \
    static const fsr_emu::KernelRegistration fsr_emu_registration_##name(#name, __FILE__, &name);

// ---------------------------------------------------------------------------------------------
// Synchronisation and warp intrinsics; each records its call site.

#define __syncthreads() fsr_emu::sync_threads(__FILE__, __LINE__)
#define __syncwarp(...) ((void)fsr_emu::warp_op(__FILE__, __LINE__, fsr_emu::WarpOp::Sync, fsr_emu_mask_or_full(__VA_ARGS__), 0, 0, 32))
#define __shfl_sync(mask, value, lane, ...) \
    fsr_emu::shuffle(__FILE__, __LINE__, fsr_emu::WarpOp::ShuffleIndex, mask, value, lane, fsr_emu_width_or_warp(__VA_ARGS__))
#define __shfl_xor_sync(mask, value, lane_mask, ...) \
    fsr_emu::shuffle(__FILE__, __LINE__, fsr_emu::WarpOp::ShuffleXor, mask, value, lane_mask, fsr_emu_width_or_warp(__VA_ARGS__))
#define __shfl_down_sync(mask, value, delta, ...) \
    fsr_emu::shuffle(__FILE__, __LINE__, fsr_emu::WarpOp::ShuffleDown, mask, value, delta, fsr_emu_width_or_warp(__VA_ARGS__))
#define __shfl_up_sync(mask, value, delta, ...) \
    fsr_emu::shuffle(__FILE__, __LINE__, fsr_emu::WarpOp::ShuffleUp, mask, value, delta, fsr_emu_width_or_warp(__VA_ARGS__))
#define __ballot_sync(mask, predicate) \
    static_cast<unsigned>(fsr_emu::warp_op(__FILE__, __LINE__, fsr_emu::WarpOp::Ballot, mask, (predicate) ? 1 : 0, 0, 32))
#define __all_sync(mask, predicate) \
    static_cast<int>(fsr_emu::warp_op(__FILE__, __LINE__, fsr_emu::WarpOp::All, mask, (predicate) ? 1 : 0, 0, 32))
#define __any_sync(mask, predicate) \
    static_cast<int>(fsr_emu::warp_op(__FILE__, __LINE__, fsr_emu::WarpOp::Any, mask, (predicate) ? 1 : 0, 0, 32))
#define __trap() fsr_emu::trap(__FILE__, __LINE__)

inline unsigned fsr_emu_mask_or_full() { return 0xffffffffu; }
inline unsigned fsr_emu_mask_or_full(unsigned mask) { return mask; }
inline int fsr_emu_width_or_warp() { return warpSize; }
inline int fsr_emu_width_or_warp(int width) { return width; }

// ---------------------------------------------------------------------------------------------
// Atomics. Blocks run concurrently on several OS threads, so these are real atomics.

inline int atomicAdd(int* address, int value) { return __atomic_fetch_add(address, value, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* address, unsigned value) { return __atomic_fetch_add(address, value, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
// Read-modify-write through compare-and-swap, for the operations with no native instruction.
template <typename T, typename Update>
inline T fsr_emu_atomic_update(T* address, Update update) {
    T expected, desired;
    __atomic_load(address, &expected, __ATOMIC_RELAXED);
    do {
        desired = update(expected);
    } while (!__atomic_compare_exchange(address, &expected, &desired, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return expected;
}
inline float atomicAdd(float* address, float value) { return fsr_emu_atomic_update(address, [=](float old) { return old + value; }); }
inline double atomicAdd(double* address, double value) { return fsr_emu_atomic_update(address, [=](double old) { return old + value; }); }
inline int atomicMax(int* address, int value) { return fsr_emu_atomic_update(address, [=](int old) { return old > value ? old : value; }); }
inline int atomicMin(int* address, int value) { return fsr_emu_atomic_update(address, [=](int old) { return old < value ? old : value; }); }
inline int atomicExch(int* address, int value) { return __atomic_exchange_n(address, value, __ATOMIC_RELAXED); }
inline int atomicCAS(int* address, int compare, int value) {
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;
}
// The read-only data cache is a GPU detail; on the host a load is a load.
template <typename T>
inline T __ldg(const T* address) { return *address; }

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

// ---------------------------------------------------------------------------------------------
// Math. The GPU's fast intrinsics are approximations; the host computes them exactly, so
// comparisons with the GPU need tolerances anyway. glibc declares __expf and friends (noexcept)
// but does not export them: these definitions must match those declarations.

extern "C" {
inline float __expf(float x) noexcept { return expf(x); }
inline float __logf(float x) noexcept { return logf(x); }
inline float __sinf(float x) noexcept { return sinf(x); }
inline float __cosf(float x) noexcept { return cosf(x); }
inline float __powf(float x, float y) noexcept { return powf(x, y); }
}
inline float __exp10f(float x) { return exp10f(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fsub_rn(float x, float y) { return x - y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
// Device code has global min/max overloads for the arithmetic types.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }

// ---------------------------------------------------------------------------------------------
// Warp-wide matrix instructions: host twins of mma.sync and ldmatrix (kernels/common/mma.cuh calls them).

#include "warp_matrix.h"
