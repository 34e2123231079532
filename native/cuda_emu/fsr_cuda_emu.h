// fsr_cuda_emu.h: the C ABI of libfsr_cuda_emu, the emulated GPU that runs kernels/*.cu on the
// CPU. It mirrors the CUDA driver API that RealCudaDevice uses (allocations, copies, memset,
// cuLaunchKernel, synchronize) and cublasGemmStridedBatchedEx, so EmulatedCudaDevice is a thin
// binding (src/FastSelfReward/Interop/CudaEmu.cs declares the same functions).
//
// Every fallible call returns 0 on success or 1 with a one-line message in `error` (truncated to
// `capacity` bytes, always NUL-terminated). A context is one in-order stream with its own
// options; memory is shared by all contexts, like a GPU's.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FSR_EMU_EXPORT __attribute__((visibility("default")))

typedef struct fsr_emu_context fsr_emu_context;

// reverse_order: run each block's threads last to first, to expose missing barriers.
// deferred: launches, GEMMs, frees, memsets and copies into device memory queue until
//   fsr_emu_synchronize; copies to the host do not wait, to expose a missing synchronize.
// workers: OS threads that run blocks; 0 means one per core.
FSR_EMU_EXPORT fsr_emu_context* fsr_emu_create_context(int reverse_order, int deferred, int workers);
FSR_EMU_EXPORT void fsr_emu_destroy_context(fsr_emu_context* context);

// Device memory: 256-byte aligned and filled with 0xFF bytes (NaN as fp32, bf16 and fp16).
FSR_EMU_EXPORT int fsr_emu_malloc(int64_t bytes, void** address, char* error, int64_t capacity);
FSR_EMU_EXPORT int fsr_emu_free(fsr_emu_context* context, void* address, char* error, int64_t capacity);
FSR_EMU_EXPORT int fsr_emu_memcpy_htod(fsr_emu_context* context, void* destination, const void* source, int64_t bytes,
                                       char* error, int64_t capacity);
FSR_EMU_EXPORT int fsr_emu_memcpy_dtoh(fsr_emu_context* context, void* destination, const void* source, int64_t bytes,
                                       char* error, int64_t capacity);
FSR_EMU_EXPORT int fsr_emu_memcpy_dtod(fsr_emu_context* context, void* destination, const void* source, int64_t bytes,
                                       char* error, int64_t capacity);
FSR_EMU_EXPORT int fsr_emu_memset(fsr_emu_context* context, void* destination, int value, int64_t bytes,
                                  char* error, int64_t capacity);

// The kernel registered under its extern "C" name by FSR_REGISTER_KERNEL, or NULL.
FSR_EMU_EXPORT const void* fsr_emu_find_kernel(const char* name);
// The source file that defines it, as the compiler saw it (__FILE__): NVRTC compiles one file at a
// time, so a kernel looked up under the wrong file must fail here as it would on a GPU.
FSR_EMU_EXPORT const char* fsr_emu_kernel_file(const void* kernel);
// Registers per thread from `-Xptxas -v`; enables the registers x threads <= 65536 check.
FSR_EMU_EXPORT int fsr_emu_set_register_count(fsr_emu_context* context, const void* kernel, int registers,
                                              char* error, int64_t capacity);
// Like cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES): opts in above 48 KiB.
FSR_EMU_EXPORT int fsr_emu_set_max_dynamic_shared(fsr_emu_context* context, const void* kernel, int bytes,
                                                  char* error, int64_t capacity);

// Like cuLaunchKernel: params holds one pointer per kernel parameter, pointing at its value.
FSR_EMU_EXPORT int fsr_emu_launch(fsr_emu_context* context, const void* kernel,
                                  uint32_t grid_x, uint32_t grid_y, uint32_t grid_z,
                                  uint32_t block_x, uint32_t block_y, uint32_t block_z,
                                  uint32_t shared_bytes, void** params, char* error, int64_t capacity);

// Runs everything queued; reports the first error of a deferred operation.
FSR_EMU_EXPORT int fsr_emu_synchronize(fsr_emu_context* context, char* error, int64_t capacity);

// cublasGemmStridedBatchedEx with column-major semantics and fp32 compute: for i < batch,
// C_i = alpha op(A_i) op(B_i) + beta C_i, C_i m x n; trans_* nonzero means op(X) = X^T.
// Types are cudaDataType values: 0 fp32, 14 bf16. With beta == 0, C is not read.
FSR_EMU_EXPORT int fsr_emu_gemm_strided_batched(fsr_emu_context* context, int trans_a, int trans_b,
                                                int m, int n, int k, float alpha,
                                                const void* a, int a_type, int lda, int64_t stride_a,
                                                const void* b, int b_type, int ldb, int64_t stride_b, float beta,
                                                void* c, int c_type, int ldc, int64_t stride_c, int batch,
                                                char* error, int64_t capacity);

#ifdef __cplusplus
}
#endif
