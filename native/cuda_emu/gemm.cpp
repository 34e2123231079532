// gemm.cpp: the emulated cuBLAS, cublasGemmStridedBatchedEx with fp32 compute. cuBLAS is
// column-major, and so is CBLAS's CblasColMajor, so the arguments pass through unchanged: a
// row/column-major slip in CudaKernels therefore shows up here exactly as on the GPU (the shim
// is tested alone against a triple loop, since a mistake shared by shim and caller would
// cancel out). bf16 operands are widened to fp32 and a bf16 C is rounded once at the end
// (round to nearest even), which is what cuBLAS's fp32-compute mode does.
#include "runtime.h"

#include <algorithm>

#ifdef FSR_HAVE_CBLAS
#include <cblas.h>
#endif

namespace fsr_emu {
namespace {

constexpr int kTypeF32 = 0;   // CUDA_R_32F
constexpr int kTypeBF16 = 14; // CUDA_R_16BF

size_t element_bytes(int type) { return type == kTypeF32 ? 4 : 2; }

float bf16_to_float(uint16_t bits) {
    uint32_t wide = uint32_t{bits} << 16;
    float value;
    std::memcpy(&value, &wide, 4);
    return value;
}

uint16_t float_to_bf16(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

// A column-major rows x cols operand as fp32: the memory itself when it is fp32, else a widened copy.
const float* as_float(const void* data, int type, int64_t rows, int64_t cols, int64_t ld, std::vector<float>& scratch) {
    if (type == kTypeF32) return static_cast<const float*>(data);
    scratch.assign(static_cast<size_t>(ld * (cols - 1) + rows), 0.0f);
    const uint16_t* bits = static_cast<const uint16_t*>(data);
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) scratch[j * ld + i] = bf16_to_float(bits[j * ld + i]);
    return scratch.data();
}

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc) {
#ifdef FSR_HAVE_CBLAS
    cblas_sgemm(CblasColMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                a, lda, b, ldb, beta, c, ldc);
#else
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float sum = 0.0f;
            for (int p = 0; p < k; p++)
                sum += (trans_a ? a[i * int64_t{lda} + p] : a[p * int64_t{lda} + i]) *
                       (trans_b ? b[p * int64_t{ldb} + j] : b[j * int64_t{ldb} + p]);
            c[j * int64_t{ldc} + i] = alpha * sum + beta * c[j * int64_t{ldc} + i];
        }
#endif
}

struct GemmArguments {
    bool trans_a, trans_b;
    int m, n, k;
    float alpha, beta;
    const void* a; int a_type, lda; int64_t stride_a;
    const void* b; int b_type, ldb; int64_t stride_b;
    void* c; int c_type, ldc; int64_t stride_c;
    int batch;
};

void run_gemm(const GemmArguments& g) {
    int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
    int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
    std::vector<float> a_scratch, b_scratch, c_scratch;
    for (int i = 0; i < g.batch; i++) {
        const char* a = static_cast<const char*>(g.a) + i * g.stride_a * element_bytes(g.a_type);
        const char* b = static_cast<const char*>(g.b) + i * g.stride_b * element_bytes(g.b_type);
        char* c = static_cast<char*>(g.c) + i * g.stride_c * element_bytes(g.c_type);
        float* c_float = reinterpret_cast<float*>(c);
        int ldc = g.ldc;
        if (g.c_type == kTypeBF16) {
            c_scratch.assign(static_cast<size_t>(g.m) * g.n, 0.0f);
            c_float = c_scratch.data();
            ldc = g.m;
            if (g.beta != 0.0f) {
                const uint16_t* bits = reinterpret_cast<const uint16_t*>(c);
                for (int j = 0; j < g.n; j++)
                    for (int r = 0; r < g.m; r++) c_float[int64_t{j} * ldc + r] = bf16_to_float(bits[int64_t{j} * g.ldc + r]);
            }
        } else if (g.beta == 0.0f) {
            // beta == 0 means C is not read: NaN already in C must not leak into the result.
            for (int j = 0; j < g.n; j++) std::fill_n(c_float + int64_t{j} * ldc, g.m, 0.0f);
        }
        if (g.k == 0) {
            for (int j = 0; j < g.n; j++)
                for (int r = 0; r < g.m; r++) c_float[int64_t{j} * ldc + r] *= g.beta;
        } else {
            const float* a_float = as_float(a, g.a_type, a_rows, a_cols, g.lda, a_scratch);
            const float* b_float = as_float(b, g.b_type, b_rows, b_cols, g.ldb, b_scratch);
            sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, a_float, g.lda, b_float, g.ldb, g.beta, c_float, ldc);
        }
        if (g.c_type == kTypeBF16) {
            uint16_t* bits = reinterpret_cast<uint16_t*>(c);
            for (int j = 0; j < g.n; j++)
                for (int r = 0; r < g.m; r++) bits[int64_t{j} * g.ldc + r] = float_to_bf16(c_float[int64_t{j} * ldc + r]);
        }
    }
}

// "" when the batch of rows x cols operands at `data` lies in device memory, else why not.
std::string check_operand(const char* name, const void* data, int type, int64_t rows, int64_t cols, int ld, int64_t stride, int batch) {
    if (type != kTypeF32 && type != kTypeBF16)
        return std::string(name) + ": type " + std::to_string(type) + " is not supported (0 = fp32, 14 = bf16)";
    if (ld < std::max<int64_t>(1, rows))
        return std::string("ld") + name + " = " + std::to_string(ld) + " is smaller than the operand's " + std::to_string(rows) + " rows";
    if (rows == 0 || cols == 0) return "";
    if (stride < 0) return std::string("stride of ") + name + " is negative";
    int64_t elements = (batch - 1) * stride + ld * (cols - 1) + rows;
    return check_device_range(data, elements * static_cast<int64_t>(element_bytes(type)), name);
}

}  // namespace
}  // namespace fsr_emu

using namespace fsr_emu;

extern "C" int fsr_emu_gemm_strided_batched(fsr_emu_context* context, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                            const void* a, int a_type, int lda, int64_t stride_a,
                                            const void* b, int b_type, int ldb, int64_t stride_b, float beta,
                                            void* c, int c_type, int ldc, int64_t stride_c, int batch,
                                            char* error, int64_t capacity) {
    if (m < 0 || n < 0 || k < 0 || batch < 0) return fail("gemm: m, n, k and batch must not be negative", error, capacity);
    GemmArguments g{trans_a != 0, trans_b != 0, m, n, k, alpha, beta, a, a_type, lda, stride_a,
                    b, b_type, ldb, stride_b, c, c_type, ldc, stride_c, batch};
    if (m == 0 || n == 0 || batch == 0) return 0;
    std::string problem = check_operand("C", c, c_type, m, n, ldc, stride_c, batch);
    if (problem.empty() && k > 0) problem = check_operand("A", a, a_type, g.trans_a ? k : m, g.trans_a ? m : k, lda, stride_a, batch);
    if (problem.empty() && k > 0) problem = check_operand("B", b, b_type, g.trans_b ? n : k, g.trans_b ? k : n, ldb, stride_b, batch);
    if (!problem.empty()) return fail("gemm: " + problem, error, capacity);
    return submit(context, [g] {
        run_gemm(g);
        return std::string();
    }, error, capacity);
}
