// nvtx.cpp: named ranges for a profiler's timeline (fsr_nvtx_enabled, fsr_nvtx_push, fsr_nvtx_pop).
//
// On an Nsight Systems timeline, thousands of kernels say what ran but not why; a range such as
// "iter1/candidates" > "generate" > "decode" around them says which part of the method they
// belong to. The C# side opens the ranges (Compute/Nvtx.cs); this file hands them to NVTX.
//
// There is no libnvToolsExt to link since CUDA 12.9: NVTX3 is header-only. Its first call looks
// for a tool (the library named by NVTX_INJECTION64_PATH, which `nsys profile` sets), dlopens it
// and lets it fill NVTX's function table; with no tool there, every call is from then on a test
// of a null pointer. So the headers are compiled in whenever the build finds them (CMakeLists.txt
// searches the usual CUDA places) and cost nothing unless a profiler is attached; without them
// this file compiles to no-ops and fsr_nvtx_enabled() says 0, so a build without CUDA headers
// still works. The dlopen is why the library links CMAKE_DL_LIBS (-ldl on glibc before 2.34).
//
// Ranges go into a domain of their own, "FastSelfReward", so a timeline can show or hide them
// apart from the CUDA runtime's and other libraries' ranges. Each name gets a fixed colour from
// a hash of the name, so "forward" has the same colour in every step of a timeline.
#include "fsr_native.h"

#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>

namespace {

nvtxDomainHandle_t domain() {
    // Created on first use (thread-safe static init); NVTX initialises itself inside this call.
    static const nvtxDomainHandle_t handle = nvtxDomainCreateA("FastSelfReward");
    return handle;
}

uint32_t colour_of(const char* name) {
    // Eight colours far enough apart to tell neighbouring ranges apart (ARGB, opaque).
    static const uint32_t palette[] = {0xFF4E79A7, 0xFFF28E2B, 0xFFE15759, 0xFF76B7B2,
                                       0xFF59A14F, 0xFFEDC948, 0xFFB07AA1, 0xFFFF9DA7};
    uint32_t hash = 2166136261u;  // FNV-1a
    for (const char* c = name; *c != '\0'; c++) hash = (hash ^ (uint8_t)*c) * 16777619u;
    return palette[hash % (sizeof palette / sizeof palette[0])];
}

}  // namespace

extern "C" int32_t fsr_nvtx_enabled(void) { return 1; }

extern "C" void fsr_nvtx_push(const char* name) {
    nvtxEventAttributes_t attributes = {};
    attributes.version = NVTX_VERSION;
    attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    attributes.colorType = NVTX_COLOR_ARGB;
    attributes.color = colour_of(name);
    attributes.messageType = NVTX_MESSAGE_TYPE_ASCII;
    attributes.message.ascii = name;
    nvtxDomainRangePushEx(domain(), &attributes);
}

extern "C" void fsr_nvtx_pop(void) { nvtxDomainRangePop(domain()); }

#else

extern "C" int32_t fsr_nvtx_enabled(void) { return 0; }
extern "C" void fsr_nvtx_push(const char*) {}
extern "C" void fsr_nvtx_pop(void) {}

#endif
