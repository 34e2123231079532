namespace FastSelfReward.Compute.Cuda;

/// <summary>Grid or block dimensions of a kernel launch.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public ulong Count => (ulong)X * Y * Z;
}

/// <summary>Element types of cuBLAS operands (cudaDataType values).</summary>
public enum CudaDataType
{
    F32 = 0,   // CUDA_R_32F
    F64 = 1,   // CUDA_R_64F
    F16 = 2,   // CUDA_R_16F
    BF16 = 14, // CUDA_R_16BF
}

/// <summary>
/// A kernel of one kernels/*.cu file, resolved by its extern "C" name. Opaque to callers; the
/// device that returned it knows what it holds (a CUfunction, or the emulator's entry).
/// </summary>
public readonly record struct CudaFunction(string File, string Name, nint Handle);

/// <summary>
/// What <c>CudaKernels</c> needs from a GPU, in CUDA driver API terms: device memory, copies,
/// kernels of kernels/*.cu launched like cuLaunchKernel, and cuBLAS GEMMs. Two implementations:
/// the real GPU (driver API, NVRTC-compiled cubins, cuBLAS) and the emulated GPU (native/cuda_emu:
/// the same .cu sources compiled by g++ and run on the CPU), so the CUDA backend's every line above
/// this interface is tested in CI without a GPU.
/// </summary>
public interface ICudaDevice : IDisposable
{
    /// <summary>For logs: "NVIDIA H200 (sm_90, driver 13.0)" or "emulated sm_90 (CPU)".</summary>
    string Name { get; }

    /// <summary>Device memory of at least <paramref name="bytes"/>, aligned to 256 bytes; contents unspecified.</summary>
    nint Allocate(long bytes);
    void Free(nint address);

    unsafe void CopyHostToDevice(nint destination, void* source, long bytes);
    unsafe void CopyDeviceToHost(void* destination, nint source, long bytes);
    void CopyDeviceToDevice(nint destination, nint source, long bytes);
    void Memset(nint destination, byte value, long bytes);

    /// <summary>The kernel <paramref name="name"/> of kernels/<paramref name="file"/>, compiled (and cached) on first use.</summary>
    CudaFunction Function(string file, string name);

    /// <summary>
    /// Launches like cuLaunchKernel: <paramref name="arguments"/> holds one pointer per kernel
    /// parameter, each pointing at that parameter's value.
    /// </summary>
    unsafe void Launch(CudaFunction function, Dim3 grid, Dim3 block, int sharedBytes, void** arguments);

    /// <summary>
    /// cublasGemmStridedBatchedEx with cuBLAS's column-major semantics and fp32 compute:
    /// C_i = α op(A_i) op(B_i) + β C_i for i &lt; batch, op(X) = X or Xᵀ, C_i is m×n column-major.
    /// </summary>
    void GemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        nint a, CudaDataType aType, int lda, long strideA,
        nint b, CudaDataType bType, int ldb, long strideB, float beta,
        nint c, CudaDataType cType, int ldc, long strideC, int batch);

    /// <summary>Waits for every launched kernel and copy.</summary>
    void Synchronize();
}
