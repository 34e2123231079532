// blas.cpp: chooses and loads the BLAS behind fsr_gemm at run time, with dlopen.
//
// Why not link it: OpenBLAS picks its kernels ("core") in its own ELF constructor, which runs
// before any constructor of a library that links it, and 0.3.21 takes AVX-512 CPUs it does not
// know (recent Xeons under some hypervisors, AMD Zen 4/5) for Haswell or even Prescott: sgemm
// 3-8x slower. Only a library we load ourselves can be given OPENBLAS_CORETYPE in time, and it
// must be set with setenv here: Environment.SetEnvironmentVariable in .NET never reaches the C
// environment. Loading at run time also lets one build use whatever BLAS a machine has, and fall
// back to gemm.cpp's own GEMM on a machine with none.
//
// Candidates, tried in order until one loads; the paths were found by CMake at configure time,
// sonames are the fallback where the build machine had none:
//   openblas-openmp  OpenBLAS built on libgomp: its threads are the same OpenMP team as our
//                    kernels', so two thread pools never spin against each other for the cores
//   mkl              MKL through mkl_rt with the GNU threading layer (libgomp, same reason);
//                    its own libiomp5 next to libgomp would oversubscribe the cores
//   openblas-pthread OpenBLAS with its own pthread pool
// The default order is by measurement (sgemm on the model's shapes, per core, DESIGN.md
// "Numbers"): on Intel CPUs MKL 2020.4 is fastest (291-313 GFLOP/s on 2 cores against
// OpenBLAS's 215-281); on AMD MKL takes its generic code path (49-74 GFLOP/s per Zen 5 core,
// thread CPU time) while OpenBLAS's SkylakeX kernels run 139-186 (Haswell kernels 78-87, our
// own GEMM 40-74), so OpenBLAS comes first there.
// FSR_BLAS=none|openblas-openmp|mkl|openblas-pthread (or a comma list) overrides the order; a
// forced BLAS that fails to load leaves gemm.cpp's own GEMM. fsr_info says which one runs.
#include "blas.h"
#include "parallel.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <strings.h>

#ifndef FSR_OPENBLAS_OPENMP_PATH
#define FSR_OPENBLAS_OPENMP_PATH ""
#endif
#ifndef FSR_OPENBLAS_PTHREAD_PATH
#define FSR_OPENBLAS_PTHREAD_PATH "libopenblas.so.0"
#endif
#ifndef FSR_MKL_PATH
#define FSR_MKL_PATH "libmkl_rt.so"
#endif
#ifndef FSR_BLAS_ORDER
#define FSR_BLAS_ORDER ""
#endif

namespace {

FsrBlas g_blas;
std::string g_description = "none (gemm.cpp's OpenMP GEMM)";
std::once_flag g_once;

// OpenBLAS 0.3.21's SkylakeX kernels need AVX-512 F, CD, BW, DQ and VL; a CPU that has them
// runs them whatever OpenBLAS thinks it is. OPENBLAS_CORETYPE set to an AVX-512 core is kept.
// Set to an older core it is raised, because machines set it globally to dodge the Prescott
// misdetection (the development VM exports Haswell) and that halves sgemm here (78-87 against
// 139-186 GFLOP/s per core); fsr_info shows the value replaced. FSR_OPENBLAS_CORETYPE, when set,
// is used as it is.
std::string g_core_note;

void choose_openblas_core() {
    if (const char* forced = std::getenv("FSR_OPENBLAS_CORETYPE")) {
        setenv("OPENBLAS_CORETYPE", forced, 1);
        return;
    }
    const char* current = std::getenv("OPENBLAS_CORETYPE");
    for (const char* avx512 : {"SkylakeX", "CooperLake", "SapphireRapids"})
        if (current != nullptr && strcasecmp(current, avx512) == 0) return;
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
          && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")))
        return;
    if (current != nullptr) g_core_note = std::string("; OPENBLAS_CORETYPE=") + current + " raised to SkylakeX (AVX-512)";
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
}

template <typename F>
F symbol(void* lib, const char* name) { return reinterpret_cast<F>(dlsym(lib, name)); }

bool load_openblas(const char* kind, const char* path) {
    if (path[0] == '\0') return false;
    choose_openblas_core();
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return false;
    auto sgemm = symbol<fsr_sgemm_fn>(lib, "cblas_sgemm");
    auto dgemm = symbol<fsr_dgemm_fn>(lib, "cblas_dgemm");
    auto set_threads = symbol<void (*)(int)>(lib, "openblas_set_num_threads");
    auto config = symbol<char* (*)()>(lib, "openblas_get_config");
    auto core = symbol<char* (*)()>(lib, "openblas_get_corename");
    if (sgemm == nullptr || dgemm == nullptr || set_threads == nullptr || config == nullptr || core == nullptr) {
        dlclose(lib);
        return false;
    }
    g_blas = {sgemm, dgemm, set_threads, kind};
    g_description = std::string(kind) + " (" + config() + ", core " + core() + g_core_note + ")";
    return true;
}

bool load_mkl(const char* path) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return false;
    auto threading = symbol<int (*)(int)>(lib, "MKL_Set_Threading_Layer");
    auto sgemm = symbol<fsr_sgemm_fn>(lib, "cblas_sgemm");
    auto dgemm = symbol<fsr_dgemm_fn>(lib, "cblas_dgemm");
    auto set_threads = symbol<void (*)(int)>(lib, "MKL_Set_Num_Threads");
    auto version = symbol<void (*)(char*, int)>(lib, "MKL_Get_Version_String");
    if (threading == nullptr || sgemm == nullptr || dgemm == nullptr || set_threads == nullptr || version == nullptr) {
        dlclose(lib);
        return false;
    }
    threading(3);  // MKL_THREADING_GNU: libgomp, before any other MKL call
    char text[256] = {};
    version(text, sizeof text - 1);
    g_blas = {sgemm, dgemm, set_threads, "mkl"};
    g_description = std::string("mkl (") + text + ", GNU OpenMP threading)";
    return true;
}

bool load(const std::string& kind) {
    if (kind == "openblas-openmp") return load_openblas("openblas-openmp", FSR_OPENBLAS_OPENMP_PATH);
    if (kind == "openblas-pthread") return load_openblas("openblas-pthread", FSR_OPENBLAS_PTHREAD_PATH);
    if (kind == "mkl") return load_mkl(FSR_MKL_PATH);
    return false;
}

void load_once() {
    const char* forced = std::getenv("FSR_BLAS");
    std::string order = forced != nullptr && forced[0] != '\0' && std::strcmp(forced, "auto") != 0 ? forced : FSR_BLAS_ORDER;
    if (order.empty()) {
        __builtin_cpu_init();
        order = __builtin_cpu_is("intel") ? "mkl,openblas-openmp,openblas-pthread" : "openblas-openmp,openblas-pthread,mkl";
    }
    size_t start = 0;
    while (start <= order.size()) {
        size_t end = order.find(',', start);
        if (end == std::string::npos) end = order.size();
        if (load(order.substr(start, end - start))) break;
        start = end + 1;
    }
    if (g_blas.set_threads != nullptr) g_blas.set_threads(fsr_threads());
}

}  // namespace

const FsrBlas& fsr_blas() {
    std::call_once(g_once, load_once);
    return g_blas;
}

const char* fsr_blas_description() {
    fsr_blas();
    return g_description.c_str();
}
