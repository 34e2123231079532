// runtime.h: what the parts of the emulator share: the stream (context) with its queue, the
// registry of kernels, the table of device allocations, and the block scheduler's entry point.
#pragma once
#include "cuda_emu.h"
#include "fsr_cuda_emu.h"

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace fsr_emu {

// An operation of a stream; returns an error message, or "" on success.
using StreamOperation = std::function<std::string()>;

struct KernelLimits {
    int registers = 0;                 // 0: unknown, not checked
    int max_dynamic_shared = 48 * 1024;
};

struct LaunchOptions {
    bool reverse_order;
    int workers;
};

}  // namespace fsr_emu

struct fsr_emu_context {
    fsr_emu::LaunchOptions options;
    bool deferred;
    std::mutex mutex;
    std::vector<fsr_emu::StreamOperation> queue;
    std::unordered_map<const fsr_emu::KernelInfo*, fsr_emu::KernelLimits> limits;
};

namespace fsr_emu {

// Runs `operation` now, or queues it on a deferred stream; 0 or 1 with the message in `error`.
int submit(fsr_emu_context* context, StreamOperation operation, char* error, int64_t capacity);
int fail(const std::string& message, char* error, int64_t capacity);

const KernelInfo* find_kernel(const char* name);

// "" when [address, address + bytes) lies inside one allocation, else why not.
std::string check_device_range(const void* address, int64_t bytes, const char* what);

// Runs every block of a launch; the first error (naming the block and the source lines), or "".
std::string run_grid(const KernelInfo* kernel, void* const* params, dim3 grid, dim3 block, uint32_t shared_bytes,
                     const LaunchOptions& options);

// File name without directories, for messages.
const char* base_name(const char* path);

}  // namespace fsr_emu
