namespace FastSelfReward.Compute.Cuda;

/// <summary>
/// A failed call into the CUDA driver, NVRTC, cuBLAS or the emulated device, with the library's
/// own name for the error (CUDA_ERROR_OUT_OF_MEMORY, NVRTC_ERROR_COMPILATION, ...) and its text.
/// </summary>
public class CudaException : Exception
{
    public CudaException(string library, string call, int code, string errorName, string errorText)
        : base($"{library}: {call} failed: {errorName} ({code}): {errorText}")
    {
        Library = library;
        Call = call;
        Code = code;
        ErrorName = errorName;
        ErrorText = errorText;
    }

    /// <summary>"CUDA driver", "NVRTC", "cuBLAS".</summary>
    public string Library { get; }
    /// <summary>The function that failed, with what it was doing where that helps.</summary>
    public string Call { get; }
    /// <summary>The library's numeric result code.</summary>
    public int Code { get; }
    /// <summary>The code's symbolic name.</summary>
    public string ErrorName { get; }
    /// <summary>The library's description of the code (or, for compiles, the compile log).</summary>
    public string ErrorText { get; }
}
