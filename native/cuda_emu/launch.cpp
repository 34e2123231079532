// launch.cpp: the kernel registry, streams (contexts), and cuLaunchKernel: checks every launch
// against sm_90's limits and every pointer argument against the device allocations before
// anything runs, because the host would happily run what a GPU refuses (a 1025-thread block,
// a misaligned float4 pointer, a host pointer) and the bug would only show on the GPU.
#include "runtime.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace fsr_emu {
namespace {

// sm_90 (H100/H200); the tests of the register and shared-memory checks use these numbers.
constexpr uint32_t kMaxThreadsPerBlock = 1024;
constexpr uint32_t kMaxBlockZ = 64;
constexpr uint32_t kMaxGridYZ = 65535;
constexpr int kDefaultDynamicShared = 48 * 1024;
constexpr int kMaxDynamicSharedOptIn = 227 * 1024;
constexpr int kRegistersPerBlock = 65536;
constexpr int kMaxRegistersPerThread = 255;

std::vector<const KernelInfo*>& registry() {
    static std::vector<const KernelInfo*> kernels;  // filled by static initializers: no order fiasco
    return kernels;
}

std::string check_launch(const KernelInfo& kernel, const KernelLimits& limits, dim3 grid, dim3 block,
                         uint32_t shared_bytes, void* const* params) {
    uint64_t threads = uint64_t{block.x} * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0)
        return "grid and block dimensions must be at least 1";
    if (threads > kMaxThreadsPerBlock || block.z > kMaxBlockZ)
        return "block of " + std::to_string(block.x) + "x" + std::to_string(block.y) + "x" + std::to_string(block.z) +
               " threads exceeds sm_90's 1024 threads per block (z at most 64)";
    if (grid.x > 0x7fffffffu || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ)
        return "grid exceeds sm_90's limits (x < 2^31, y and z <= 65535)";
    if (static_cast<int64_t>(shared_bytes) > limits.max_dynamic_shared)
        return std::to_string(shared_bytes) + " bytes of dynamic shared memory exceed the kernel's limit of " +
               std::to_string(limits.max_dynamic_shared) +
               (limits.max_dynamic_shared == kDefaultDynamicShared ? " (above 48 KiB needs an opt-in, as with cuFuncSetAttribute)" : "");
    if (limits.registers > 0) {
        // Registers are allocated per warp, in units of 256 (8 per thread).
        uint64_t warps = (threads + warpSize - 1) / warpSize;
        uint64_t needed = warps * warpSize * ((limits.registers + 7) / 8 * 8);
        if (needed > kRegistersPerBlock)
            return std::to_string(threads) + " threads x " + std::to_string(limits.registers) +
                   " registers need " + std::to_string(needed) + " registers; sm_90 has 65536 per block";
    }
    for (int i = 0; i < kernel.parameter_count; i++) {
        if (!params[i]) return "parameter " + std::to_string(i) + " has no value (params[" + std::to_string(i) + "] is null)";
        size_t alignment = kernel.pointee_alignments[i];
        if (alignment == 0) continue;
        const void* pointer;
        std::memcpy(&pointer, params[i], sizeof pointer);
        if (!pointer) continue;
        if (reinterpret_cast<uintptr_t>(pointer) % alignment != 0)
            return "pointer parameter " + std::to_string(i) + " is not aligned to " + std::to_string(alignment) + " bytes";
        std::string outside = check_device_range(pointer, 0, ("pointer parameter " + std::to_string(i)).c_str());
        if (!outside.empty()) return outside;
    }
    return "";
}

}  // namespace

void register_kernel(const KernelInfo* kernel) { registry().push_back(kernel); }

const KernelInfo* find_kernel(const char* name) {
    for (const KernelInfo* kernel : registry())
        if (std::strcmp(kernel->name, name) == 0) return kernel;
    return nullptr;
}

int fail(const std::string& message, char* error, int64_t capacity) {
    if (error && capacity > 0) {
        size_t n = std::min<size_t>(message.size(), static_cast<size_t>(capacity - 1));
        std::memcpy(error, message.data(), n);
        error[n] = '\0';
    }
    return 1;
}

int submit(fsr_emu_context* context, StreamOperation operation, char* error, int64_t capacity) {
    if (context->deferred) {
        std::lock_guard<std::mutex> lock(context->mutex);
        context->queue.push_back(std::move(operation));
        return 0;
    }
    std::string message = operation();
    return message.empty() ? 0 : fail(message, error, capacity);
}

}  // namespace fsr_emu

using namespace fsr_emu;

extern "C" {

fsr_emu_context* fsr_emu_create_context(int reverse_order, int deferred, int workers) {
    auto* context = new fsr_emu_context;
    context->options = {reverse_order != 0, std::max(0, workers)};
    context->deferred = deferred != 0;
    return context;
}

void fsr_emu_destroy_context(fsr_emu_context* context) { delete context; }

const void* fsr_emu_find_kernel(const char* name) { return find_kernel(name); }

const char* fsr_emu_kernel_file(const void* kernel) { return static_cast<const KernelInfo*>(kernel)->file; }

int fsr_emu_set_register_count(fsr_emu_context* context, const void* kernel, int registers, char* error, int64_t capacity) {
    if (registers < 1 || registers > kMaxRegistersPerThread)
        return fail("register count " + std::to_string(registers) + " is outside sm_90's 1..255", error, capacity);
    std::lock_guard<std::mutex> lock(context->mutex);
    context->limits[static_cast<const KernelInfo*>(kernel)].registers = registers;
    return 0;
}

int fsr_emu_set_max_dynamic_shared(fsr_emu_context* context, const void* kernel, int bytes, char* error, int64_t capacity) {
    if (bytes < 0 || bytes > kMaxDynamicSharedOptIn)
        return fail(std::to_string(bytes) + " bytes of dynamic shared memory exceed sm_90's 227 KiB", error, capacity);
    std::lock_guard<std::mutex> lock(context->mutex);
    context->limits[static_cast<const KernelInfo*>(kernel)].max_dynamic_shared = bytes;
    return 0;
}

int fsr_emu_launch(fsr_emu_context* context, const void* kernel_handle, uint32_t grid_x, uint32_t grid_y, uint32_t grid_z,
                   uint32_t block_x, uint32_t block_y, uint32_t block_z, uint32_t shared_bytes, void** params,
                   char* error, int64_t capacity) {
    const KernelInfo* kernel = static_cast<const KernelInfo*>(kernel_handle);
    if (!kernel) return fail("no kernel (null handle)", error, capacity);
    dim3 grid(grid_x, grid_y, grid_z), block(block_x, block_y, block_z);
    KernelLimits limits;
    {
        std::lock_guard<std::mutex> lock(context->mutex);
        auto found = context->limits.find(kernel);
        if (found != context->limits.end()) limits = found->second;
    }
    if (kernel->parameter_count > 0 && !params) return fail(std::string(kernel->name) + ": params is null", error, capacity);
    std::string problem = check_launch(*kernel, limits, grid, block, shared_bytes, params);
    if (!problem.empty()) return fail(std::string(kernel->name) + " (" + base_name(kernel->file) + "): " + problem, error, capacity);

    // Like cuLaunchKernel, take the argument values now: the caller's storage may be gone by the
    // time a deferred launch runs.
    size_t total = 0;
    std::vector<size_t> offsets(kernel->parameter_count);
    for (int i = 0; i < kernel->parameter_count; i++) {
        total = (total + 15) & ~size_t{15};
        offsets[i] = total;
        total += kernel->parameter_sizes[i];
    }
    auto storage = std::make_shared<std::vector<max_align_t>>(total / sizeof(max_align_t) + 1);
    auto pointers = std::make_shared<std::vector<void*>>(kernel->parameter_count);
    char* bytes = reinterpret_cast<char*>(storage->data());
    for (int i = 0; i < kernel->parameter_count; i++) {
        std::memcpy(bytes + offsets[i], params[i], kernel->parameter_sizes[i]);
        (*pointers)[i] = bytes + offsets[i];
    }
    LaunchOptions options = context->options;
    return submit(context, [=] {
        (void)storage;  // captured so that the argument bytes live as long as the operation
        return run_grid(kernel, pointers->data(), grid, block, shared_bytes, options);
    }, error, capacity);
}

int fsr_emu_synchronize(fsr_emu_context* context, char* error, int64_t capacity) {
    std::vector<StreamOperation> queued;
    {
        std::lock_guard<std::mutex> lock(context->mutex);
        queued.swap(context->queue);
    }
    // After a failure the rest of the stream is dropped, as a GPU context is unusable after a fault.
    for (StreamOperation& operation : queued) {
        std::string message = operation();
        if (!message.empty()) return fail("deferred operation failed: " + message, error, capacity);
    }
    return 0;
}

}  // extern "C"
