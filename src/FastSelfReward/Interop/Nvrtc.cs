using System.Runtime.InteropServices;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Interop;

/// <summary>
/// NVRTC, the CUDA runtime compiler (libnvrtc.so.13, .12 or .11.2; Debian's non-free
/// libnvrtc11.2 works on machines without a GPU). nvrtcResult is <see cref="int"/>, nvrtcProgram
/// <see cref="nint"/>, size_t <see cref="nuint"/>; strings are NUL-terminated UTF-8. The
/// supported-architecture queries exist since NVRTC 11.2, the oldest version the resolver accepts.
/// </summary>
internal static unsafe partial class Nvrtc
{
    public const string Library = "nvrtc";

    public const int NVRTC_SUCCESS = 0;
    public const int NVRTC_ERROR_COMPILATION = 6;

    static Nvrtc() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial byte* nvrtcGetErrorString(int result);
    [LibraryImport(Library)] public static partial int nvrtcVersion(int* major, int* minor);
    [LibraryImport(Library)] public static partial int nvrtcGetNumSupportedArchs(int* numArchs);
    [LibraryImport(Library)] public static partial int nvrtcGetSupportedArchs(int* supportedArchs);

    [LibraryImport(Library)]
    public static partial int nvrtcCreateProgram(nint* prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Library)] public static partial int nvrtcDestroyProgram(nint* prog);
    [LibraryImport(Library)] public static partial int nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [LibraryImport(Library)] public static partial int nvrtcGetProgramLogSize(nint prog, nuint* logSizeRet);
    [LibraryImport(Library)] public static partial int nvrtcGetProgramLog(nint prog, byte* log);
    [LibraryImport(Library)] public static partial int nvrtcGetPTXSize(nint prog, nuint* ptxSizeRet);
    [LibraryImport(Library)] public static partial int nvrtcGetPTX(nint prog, byte* ptx);
    [LibraryImport(Library)] public static partial int nvrtcGetCUBINSize(nint prog, nuint* cubinSizeRet);
    [LibraryImport(Library)] public static partial int nvrtcGetCUBIN(nint prog, byte* cubin);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is NVRTC_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result != NVRTC_SUCCESS) throw Error(result, call, null);
    }

    /// <summary>The exception for a failed NVRTC call; <paramref name="detail"/> (a compile log) is appended.</summary>
    public static CudaException Error(int result, string call, string? detail)
    {
        byte* text = nvrtcGetErrorString(result);
        string name = text != null ? Marshal.PtrToStringUTF8((nint)text)! : $"nvrtcResult {result}";
        return new CudaException("NVRTC", call, result, name, detail ?? "see the NVRTC documentation for this code");
    }
}
