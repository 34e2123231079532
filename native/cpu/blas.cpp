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
//   mkl              MKL's layers loaded one by one with the GNU threading layer, on the libgomp
//                    our kernels use (same reason; load_mkl says why not through mkl_rt)
//   openblas-pthread OpenBLAS with its own pthread pool
// The default order is by measurement (sgemm on the model's shapes, per core, docs/design.md
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
#include <link.h>
#include <mutex>
#include <string>
#include <strings.h>

#ifndef FSR_OPENBLAS_OPENMP_PATH
#define FSR_OPENBLAS_OPENMP_PATH ""
#endif
#ifndef FSR_OPENBLAS_PTHREAD_PATH
#define FSR_OPENBLAS_PTHREAD_PATH "libopenblas.so.0"
#endif
#ifndef FSR_MKL_DIR
#define FSR_MKL_DIR ""
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

// True when a second OpenMP runtime (LLVM's libomp, Intel's libiomp5) is in the process.
bool foreign_openmp_loaded() {
    return dl_iterate_phdr([](dl_phdr_info* info, size_t, void*) {
        const char* slash = std::strrchr(info->dlpi_name, '/');
        const char* name = slash != nullptr ? slash + 1 : info->dlpi_name;
        return (int)(std::strncmp(name, "libiomp5", 8) == 0 || std::strncmp(name, "libomp.so", 9) == 0);
    }, nullptr) != 0;
}

// Not through mkl_rt: its GNU threading layer looks for libgomp by the development name
// "libgomp.so", which Debian keeps in GCC's private folder, and when that fails it loads
// libiomp5.so instead, on Debian LLVM's libomp, without a word. MKL then ran on a second thread
// pool, and worse, this library's own lazily bound GOMP_loop_* calls went to libomp while its
// GOMP_parallel stayed on libgomp: each thread of a schedule(dynamic) loop ran every iteration,
// and attention's backward summed its gradients twice, racing (training diverged on MKL; the
// CMake file now also binds every symbol at load, -z now). So the three layers that the MKL
// link line names are loaded here, global because they resolve each other's symbols, after
// the libgomp this library already uses is made global for libmkl_gnu_thread to bind to.
//
// Reproducibility: by default MKL picks code paths by buffer alignment, so the same product at
// another address (another run, a resumed one) differs in the last bits. MKL_CBWR_AUTO keeps
// the fastest path for this CPU and makes it alignment independent; dynamic threading off makes
// every call use the thread count set, so results depend on nothing but that count.
bool load_mkl() {
    if (dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL) == nullptr) return false;
    const std::string dir = FSR_MKL_DIR;
    void* layers[3] = {};
    const char* names[3] = {"libmkl_core.so", "libmkl_gnu_thread.so", "libmkl_intel_lp64.so"};
    for (int i = 0; i < 3; i++) {
        std::string path = dir.empty() ? names[i] : dir + "/" + names[i];
        layers[i] = dlopen(path.c_str(), (i < 2 ? RTLD_LAZY : RTLD_NOW) | RTLD_GLOBAL);
        if (layers[i] == nullptr) {
            for (int j = i - 1; j >= 0; j--) dlclose(layers[j]);
            return false;
        }
    }
    void* lib = layers[2];
    auto sgemm = symbol<fsr_sgemm_fn>(lib, "cblas_sgemm");
    auto dgemm = symbol<fsr_dgemm_fn>(lib, "cblas_dgemm");
    auto set_threads = symbol<void (*)(int)>(lib, "MKL_Set_Num_Threads");
    auto set_dynamic = symbol<void (*)(int)>(lib, "MKL_Set_Dynamic");
    auto cbwr_set = symbol<int (*)(int)>(lib, "MKL_CBWR_Set");
    auto version = symbol<void (*)(char*, int)>(lib, "MKL_Get_Version_String");
    const int cbwr_auto = 2;  // MKL_CBWR_AUTO; MKL_CBWR_SUCCESS is 0
    if (sgemm == nullptr || dgemm == nullptr || set_threads == nullptr || set_dynamic == nullptr || cbwr_set == nullptr
        || version == nullptr || cbwr_set(cbwr_auto) != 0) {
        for (int j = 2; j >= 0; j--) dlclose(layers[j]);
        return false;
    }
    set_dynamic(0);
    char text[256] = {};
    version(text, sizeof text - 1);
    g_blas = {sgemm, dgemm, set_threads, "mkl"};
    g_description = std::string("mkl (") + text + ", GNU OpenMP threading, CNR auto"
        + (foreign_openmp_loaded() ? "; WARNING: a second OpenMP runtime (libomp/libiomp5) is loaded" : "") + ")";
    return true;
}

bool load(const std::string& kind) {
    if (kind == "openblas-openmp") return load_openblas("openblas-openmp", FSR_OPENBLAS_OPENMP_PATH);
    if (kind == "openblas-pthread") return load_openblas("openblas-pthread", FSR_OPENBLAS_PTHREAD_PATH);
    if (kind == "mkl") return load_mkl();
    return false;
}

void load_once() {
    const char* forced = std::getenv("FSR_BLAS");
    const bool chosen = forced != nullptr && forced[0] != '\0' && std::strcmp(forced, "auto") != 0;
    std::string order = chosen ? forced : FSR_BLAS_ORDER;
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
    if (g_blas.sgemm == nullptr && chosen && order != "none")
        g_description = "none (FSR_BLAS=" + order + ": none of these loaded; gemm.cpp's OpenMP GEMM)";
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
