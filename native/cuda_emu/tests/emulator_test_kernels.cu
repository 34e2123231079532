// emulator_test_kernels.cu: kernels that exist only to test the emulator itself
// (tests/FastSelfReward.Tests/Compute/Cuda/Emulator*Tests.cs), compiled into libfsr_cuda_emu
// but never by NVRTC. Some are wrong on purpose; each says which mistake the emulator must catch.
namespace emu_test {

// Block-wide sum: shuffles within each warp, then the warp leaders through shared memory.
// A static __shared__ inside a template helper is a COMDAT variable in a .tbss section of its own,
// which the runtime finds through the library's symbol table (scheduler.cpp, local_tls_statics).
template <typename T>
__device__ T block_sum(T value) {
    __shared__ T warp_sums[32];
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) warp_sums[warp] = value;
    __syncthreads();
    int warps = (blockDim.x + 31) / 32;
    value = lane < warps ? warp_sums[lane] : T(0);
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
    __syncthreads();  // warp_sums is reused by the next call
    return value;
}

}  // namespace emu_test

// out[row] = sum of x[row, 0..n), one block per row.
extern "C" __global__ void emu_test_row_sum(const float* x, float* out, int n) {
    float sum = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum += x[blockIdx.x * (long long)n + i];
    sum = emu_test::block_sum(sum);
    if (threadIdx.x == 0) out[blockIdx.x] = sum;
}
FSR_REGISTER_KERNEL(emu_test_row_sum)

// Tree reduction over a dynamic shared buffer of blockDim.x floats, with a barrier per level.
extern "C" __global__ void emu_test_tree_sum(const float* x, float* out) {
    FSR_EXTERN_SHARED(float, buffer);
    buffer[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) buffer[threadIdx.x] += buffer[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = buffer[0];
}
FSR_REGISTER_KERNEL(emu_test_tree_sum)

// Per lane of a 32-thread block: the xor-butterfly sum, the shfl_down sum (valid in lane 0),
// lane 5's value broadcast, the value of the lane below (shfl_up, lane 0 keeps its own), the
// ballot of odd values, and the sum within 8-lane segments (width 8).
extern "C" __global__ void emu_test_warp_ops(const float* x, float* xor_sum, float* down_sum, float* broadcast,
                                             float* up, unsigned* ballot, float* segment_sum) {
    int lane = threadIdx.x;
    float v = x[lane];
    float a = v, b = v, s = v;
    for (int offset = 16; offset > 0; offset /= 2) a += __shfl_xor_sync(0xffffffff, a, offset);
    for (int offset = 16; offset > 0; offset /= 2) b += __shfl_down_sync(0xffffffff, b, offset);
    for (int offset = 4; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffff, s, offset, 8);
    xor_sum[lane] = a;
    down_sum[lane] = b;
    broadcast[lane] = __shfl_sync(0xffffffff, v, 5);
    up[lane] = __shfl_up_sync(0xffffffff, v, 1);
    ballot[lane] = __ballot_sync(0xffffffff, static_cast<int>(v) % 2 != 0);
    segment_sum[lane] = s;
}
FSR_REGISTER_KERNEL(emu_test_warp_ops)

// out[linear thread of the grid] = its coordinates packed as bx,by,tx,ty,tz (one byte each).
extern "C" __global__ void emu_test_indices(long long* out) {
    long long block = blockIdx.y * gridDim.x + blockIdx.x;
    long long thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    long long packed = (long long)blockIdx.x << 32 | (long long)blockIdx.y << 24 | threadIdx.x << 16 | threadIdx.y << 8 | threadIdx.z;
    out[block * blockDim.x * blockDim.y * blockDim.z + thread] = packed;
}
FSR_REGISTER_KERNEL(emu_test_indices)

// Wrong on purpose: reads the neighbour's shared value without a barrier. In forward order the
// neighbour (threadIdx.x - 1) has already run and the result looks right; in reverse it has not.
extern "C" __global__ void emu_test_missing_barrier(const float* x, float* out) {
    __shared__ float values[256];
    values[threadIdx.x] = x[threadIdx.x];
    out[threadIdx.x] = values[threadIdx.x > 0 ? threadIdx.x - 1 : 0];
}
FSR_REGISTER_KERNEL(emu_test_missing_barrier)

// Wrong on purpose: two halves of the block wait at different barriers.
extern "C" __global__ void emu_test_divergent_barrier(float* out) {
    if (threadIdx.x < 16) {
        __syncthreads();  // EMU_TEST_DIVERGENT_A
    } else {
        __syncthreads();  // EMU_TEST_DIVERGENT_B
    }
    out[threadIdx.x] = 1.0f;
}
FSR_REGISTER_KERNEL(emu_test_divergent_barrier)

// Wrong on purpose: threads past n leave before the barrier the others wait at.
extern "C" __global__ void emu_test_exit_before_barrier(float* out, int n) {
    if (static_cast<int>(threadIdx.x) >= n) return;
    out[threadIdx.x] = 1.0f;
    __syncthreads();  // EMU_TEST_EXIT_BARRIER
}
FSR_REGISTER_KERNEL(emu_test_exit_before_barrier)

// Wrong on purpose: half a warp waits in a shuffle while the other half waits at a barrier.
extern "C" __global__ void emu_test_deadlock(float* out) {
    float v = threadIdx.x;
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffff, v, 1);  // EMU_TEST_DEADLOCK_SHUFFLE
    __syncthreads();  // EMU_TEST_DEADLOCK_BARRIER
    out[threadIdx.x] = v;
}
FSR_REGISTER_KERNEL(emu_test_deadlock)

// Wrong on purpose: reads static and dynamic shared memory nobody wrote.
extern "C" __global__ void emu_test_uninitialized_shared(float* static_out, float* dynamic_out) {
    __shared__ float never_written[64];
    FSR_EXTERN_SHARED(float, dynamic_never_written);
    static_out[threadIdx.x] = never_written[threadIdx.x];
    dynamic_out[threadIdx.x] = dynamic_never_written[threadIdx.x];
}
FSR_REGISTER_KERNEL(emu_test_uninitialized_shared)

// Vector copy through float4: its pointers must be 16-byte aligned.
extern "C" __global__ void emu_test_copy_float4(const float4* in, float4* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i];
}
FSR_REGISTER_KERNEL(emu_test_copy_float4)

// x[i] += 1, for the deferred-launch tests.
extern "C" __global__ void emu_test_add_one(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1.0f;
}
FSR_REGISTER_KERNEL(emu_test_add_one)

// Every thread of the grid adds 1 to *count and 0.5 to *sum.
extern "C" __global__ void emu_test_atomics(int* count, float* sum) {
    atomicAdd(count, 1);
    atomicAdd(sum, 0.5f);
}
FSR_REGISTER_KERNEL(emu_test_atomics)

// RMSNorm over rows of n (one block per row), the shape of the speed measurement.
extern "C" __global__ void emu_test_rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
    const float* row = x + blockIdx.x * (long long)n;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum += row[i] * row[i];
    float rstd = rsqrtf(emu_test::block_sum(sum) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[blockIdx.x * (long long)n + i] = row[i] * rstd * weight[i];
}
FSR_REGISTER_KERNEL(emu_test_rmsnorm)

// Wrong on purpose when blockDim.x is not a multiple of 32: the last warp's full-mask butterfly
// reads lanes that do not exist, which is undefined on a GPU and NaN here.
extern "C" __global__ void emu_test_warp_sum(const float* x, float* out) {
    float v = x[threadIdx.x];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffff, v, offset);
    out[threadIdx.x] = v;
}
FSR_REGISTER_KERNEL(emu_test_warp_sum)

// Wrong on purpose: every lane passes a mask of lane 0 only.
extern "C" __global__ void emu_test_mask_without_self(float* out) {
    out[threadIdx.x] = __shfl_xor_sync(1u, 1.0f, 1);  // EMU_TEST_MASK_WITHOUT_SELF
}
FSR_REGISTER_KERNEL(emu_test_mask_without_self)

namespace emu_test {

// A template's __shared__ array, read before anything writes it.
template <typename T>
__device__ T read_unwritten_template_shared(int lane) {
    __shared__ T cell[32];
    T value = cell[lane];
    __syncthreads();
    cell[lane] = T(lane);
    return value;
}

}  // namespace emu_test

// out[block * 32 + lane] = what a template's __shared__ held before the block wrote it: poison (NaN),
// in every block, though the block before on the same OS thread left lane numbers there.
extern "C" __global__ void emu_test_template_shared_is_poisoned(float* out) {
    out[blockIdx.x * 32 + threadIdx.x] = emu_test::read_unwritten_template_shared<float>(threadIdx.x);
}
FSR_REGISTER_KERNEL(emu_test_template_shared_is_poisoned)
