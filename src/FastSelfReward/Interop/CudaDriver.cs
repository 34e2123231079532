using System.Runtime.InteropServices;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Interop;

/// <summary>
/// The CUDA driver API (libcuda.so.1), one declaration per export, bound by export name: where
/// cuda.h maps a name to a versioned symbol (<c>#define cuMemAlloc cuMemAlloc_v2</c>), the
/// versioned symbol is what P/Invoke must name, because the unversioned export is the CUDA 3.x ABI
/// with 32-bit sizes. Types: CUresult is <see cref="int"/>, CUdevice <see cref="int"/>,
/// CUdeviceptr <see cref="ulong"/>, size_t <see cref="nuint"/>, handles (CUcontext, CUmodule,
/// CUfunction, CUstream) <see cref="nint"/>. Every exported name here is checked against the real
/// library's export table by scripts/check-cuda-exports.sh.
/// </summary>
internal static unsafe partial class CudaDriver
{
    public const string Library = "cuda";

    public const int CUDA_SUCCESS = 0;
    public const int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public const int CUDA_ERROR_NO_DEVICE = 100;

    // CUdevice_attribute values used by the device description.
    public const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    // CUfunction_attribute: opt-in above the default 48 KiB of dynamic shared memory.
    public const int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    static CudaDriver() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial int cuInit(uint flags);
    [LibraryImport(Library)] public static partial int cuDriverGetVersion(int* driverVersion);
    [LibraryImport(Library)] public static partial int cuGetErrorName(int error, byte** pStr);
    [LibraryImport(Library)] public static partial int cuGetErrorString(int error, byte** pStr);

    [LibraryImport(Library)] public static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Library)] public static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Library)] public static partial int cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Library)] public static partial int cuDeviceTotalMem_v2(nuint* bytes, int dev);
    [LibraryImport(Library)] public static partial int cuDeviceGetAttribute(int* pi, int attrib, int dev);

    [LibraryImport(Library)] public static partial int cuDevicePrimaryCtxRetain(nint* pctx, int dev);
    [LibraryImport(Library)] public static partial int cuDevicePrimaryCtxRelease_v2(int dev);
    [LibraryImport(Library)] public static partial int cuCtxSetCurrent(nint ctx);
    [LibraryImport(Library)] public static partial int cuCtxSynchronize();

    [LibraryImport(Library)] public static partial int cuMemAlloc_v2(ulong* dptr, nuint bytesize);
    [LibraryImport(Library)] public static partial int cuMemFree_v2(ulong dptr);
    [LibraryImport(Library)] public static partial int cuMemGetInfo_v2(nuint* free, nuint* total);
    [LibraryImport(Library)] public static partial int cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint byteCount);
    [LibraryImport(Library)] public static partial int cuMemsetD8_v2(ulong dstDevice, byte uc, nuint n);

    [LibraryImport(Library)] public static partial int cuModuleLoadData(nint* module, void* image);
    [LibraryImport(Library)] public static partial int cuModuleUnload(nint hmod);
    [LibraryImport(Library)] public static partial int cuModuleGetFunction(nint* hfunc, nint hmod, byte* name);
    [LibraryImport(Library)] public static partial int cuFuncSetAttribute(nint hfunc, int attrib, int value);
    [LibraryImport(Library)]
    public static partial int cuLaunchKernel(nint f, uint gridDimX, uint gridDimY, uint gridDimZ,
        uint blockDimX, uint blockDimY, uint blockDimZ, uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result != CUDA_SUCCESS) throw Error(result, call);
    }

    /// <summary>The exception for a failed driver call, with the driver's own name and text for the code.</summary>
    public static CudaException Error(int result, string call)
    {
        byte* name = null, text = null;
        string errorName = cuGetErrorName(result, &name) == CUDA_SUCCESS && name != null
            ? Marshal.PtrToStringUTF8((nint)name)! : $"CUresult {result}";
        string errorText = cuGetErrorString(result, &text) == CUDA_SUCCESS && text != null
            ? Marshal.PtrToStringUTF8((nint)text)! : "unknown error code";
        return new CudaException("CUDA driver", call, result, errorName, errorText);
    }
}
