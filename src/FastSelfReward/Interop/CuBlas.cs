using System.Runtime.InteropServices;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Interop;

/// <summary>
/// cuBLAS (libcublas.so.13 or .12), bound by export name: the handle functions are the
/// <c>_v2</c> exports that cublas_v2.h maps the plain names to. cublasStatus_t is
/// <see cref="int"/>, cublasHandle_t and cudaStream_t <see cref="nint"/>, enums
/// <see cref="int"/>; α and β are host pointers (the default pointer mode). Matrices are
/// column-major, as in every BLAS.
/// </summary>
internal static unsafe partial class CuBlas
{
    public const string Library = "cublas";

    public const int CUBLAS_STATUS_SUCCESS = 0;
    public const int CUBLAS_OP_N = 0;
    public const int CUBLAS_OP_T = 1;
    /// <summary>cublasComputeType_t: fp32 accumulation and fp32 α, β for every input type.</summary>
    public const int CUBLAS_COMPUTE_32F = 68;
    public const int CUBLAS_GEMM_DEFAULT = -1;

    static CuBlas() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial int cublasCreate_v2(nint* handle);
    [LibraryImport(Library)] public static partial int cublasDestroy_v2(nint handle);
    [LibraryImport(Library)] public static partial int cublasSetStream_v2(nint handle, nint streamId);
    [LibraryImport(Library)] public static partial int cublasGetVersion_v2(nint handle, int* version);

    /// <summary>C = α op(A) op(B) + β C, column-major, op(A) m×k, op(B) k×n, C m×n.</summary>
    [LibraryImport(Library)]
    public static partial int cublasGemmEx(nint handle, int transa, int transb, int m, int n, int k, void* alpha,
        void* A, int Atype, int lda, void* B, int Btype, int ldb, void* beta, void* C, int Ctype, int ldc,
        int computeType, int algo);

    /// <summary><see cref="cublasGemmEx"/> over batchCount matrices at fixed strides (in elements).</summary>
    [LibraryImport(Library)]
    public static partial int cublasGemmStridedBatchedEx(nint handle, int transa, int transb, int m, int n, int k, void* alpha,
        void* A, int Atype, int lda, long strideA, void* B, int Btype, int ldb, long strideB, void* beta,
        void* C, int Ctype, int ldc, long strideC, int batchCount, int computeType, int algo);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="status"/> is success.</summary>
    public static void Check(int status, string call)
    {
        if (status != CUBLAS_STATUS_SUCCESS)
            throw new CudaException("cuBLAS", call, status, StatusName(status), StatusText(status));
    }

    // cublasGetStatusName/String exist only since cuBLAS 11.4; the codes are stable, so they are
    // named here and the binding works with every cuBLAS the resolver accepts.
    private static string StatusName(int status) => status switch
    {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"cublasStatus_t {status}",
    };

    private static string StatusText(int status) => status switch
    {
        1 => "the cuBLAS library was not initialized",
        3 => "resource allocation failed",
        7 => "an unsupported value or parameter was passed",
        8 => "the device does not support this operation",
        11 => "access to GPU memory space failed",
        13 => "the GPU program failed to execute",
        14 => "an internal cuBLAS operation failed",
        15 => "the functionality requested is not supported",
        16 => "the functionality requested requires a license",
        _ => "unknown status",
    };
}
