// memory.cpp: device memory of the emulated GPU. It is host memory, so every check a GPU's MMU
// would make is made here instead: each allocation is recorded, and copies, memsets, GEMM
// operands and kernel pointer arguments must lie inside one (a host pointer passed where device
// memory belongs is an error, not a silent success). New allocations are filled with 0xFF bytes,
// NaN in every float format, so reading memory nobody wrote shows up in results.
#include "runtime.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <shared_mutex>

namespace fsr_emu {
namespace {

std::shared_mutex allocations_mutex;
std::map<uintptr_t, size_t> allocations;  // start -> bytes

}  // namespace

std::string check_device_range(const void* address, int64_t bytes, const char* what) {
    if (bytes < 0) return std::string(what) + " has a negative size";
    uintptr_t start = reinterpret_cast<uintptr_t>(address);
    std::shared_lock<std::shared_mutex> lock(allocations_mutex);
    auto next = allocations.upper_bound(start);
    if (next != allocations.begin()) {
        auto found = std::prev(next);
        if (start - found->first + static_cast<uint64_t>(bytes) <= found->second) return "";
        if (start - found->first <= found->second)
            return std::string(what) + " runs past the end of its allocation (" + std::to_string(bytes) + " bytes at offset " +
                   std::to_string(start - found->first) + " of " + std::to_string(found->second) + ")";
    }
    return std::string(what) + " is not device memory (not inside any allocation)";
}

}  // namespace fsr_emu

using namespace fsr_emu;

extern "C" {

int fsr_emu_malloc(int64_t bytes, void** address, char* error, int64_t capacity) {
    if (bytes < 0) return fail("negative allocation size", error, capacity);
    size_t rounded = (static_cast<size_t>(bytes) + 255) & ~size_t{255};
    void* memory = std::aligned_alloc(256, rounded == 0 ? 256 : rounded);
    if (!memory) return fail("out of memory allocating " + std::to_string(bytes) + " bytes", error, capacity);
    std::memset(memory, 0xFF, rounded);
    {
        std::unique_lock<std::shared_mutex> lock(allocations_mutex);
        allocations[reinterpret_cast<uintptr_t>(memory)] = static_cast<size_t>(bytes);
    }
    *address = memory;
    return 0;
}

int fsr_emu_free(fsr_emu_context* context, void* address, char* error, int64_t capacity) {
    if (!address) return 0;
    {
        std::shared_lock<std::shared_mutex> lock(allocations_mutex);
        if (!allocations.count(reinterpret_cast<uintptr_t>(address)))
            return fail("free of an address that is not the start of an allocation", error, capacity);
    }
    return submit(context, [address] {
        std::unique_lock<std::shared_mutex> lock(allocations_mutex);
        allocations.erase(reinterpret_cast<uintptr_t>(address));
        std::free(address);
        return std::string();
    }, error, capacity);
}

int fsr_emu_memcpy_htod(fsr_emu_context* context, void* destination, const void* source, int64_t bytes, char* error, int64_t capacity) {
    std::string problem = check_device_range(destination, bytes, "copy destination");
    if (!problem.empty()) return fail(problem, error, capacity);
    if (!context->deferred) {
        std::memcpy(destination, source, static_cast<size_t>(bytes));
        return 0;
    }
    // cuMemcpyHtoD returns once the source may be reused, so a deferred copy takes a snapshot.
    auto snapshot = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(source),
                                                                 static_cast<const unsigned char*>(source) + bytes);
    return submit(context, [=] {
        std::memcpy(destination, snapshot->data(), snapshot->size());
        return std::string();
    }, error, capacity);
}

int fsr_emu_memcpy_dtoh(fsr_emu_context*, void* destination, const void* source, int64_t bytes, char* error, int64_t capacity) {
    std::string problem = check_device_range(source, bytes, "copy source");
    if (!problem.empty()) return fail(problem, error, capacity);
    // Never waits for deferred work: reading results without synchronizing first must show.
    std::memcpy(destination, source, static_cast<size_t>(bytes));
    return 0;
}

int fsr_emu_memcpy_dtod(fsr_emu_context* context, void* destination, const void* source, int64_t bytes, char* error, int64_t capacity) {
    std::string problem = check_device_range(destination, bytes, "copy destination");
    if (problem.empty()) problem = check_device_range(source, bytes, "copy source");
    if (!problem.empty()) return fail(problem, error, capacity);
    return submit(context, [=] {
        std::memmove(destination, source, static_cast<size_t>(bytes));
        return std::string();
    }, error, capacity);
}

int fsr_emu_memset(fsr_emu_context* context, void* destination, int value, int64_t bytes, char* error, int64_t capacity) {
    std::string problem = check_device_range(destination, bytes, "memset destination");
    if (!problem.empty()) return fail(problem, error, capacity);
    return submit(context, [=] {
        std::memset(destination, value, static_cast<size_t>(bytes));
        return std::string();
    }, error, capacity);
}

}  // extern "C"
