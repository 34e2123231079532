using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// sm_90 register counts of every kernel, from NVRTC's -Xptxas -v, handed to an emulated device so
/// its launch check includes registers × threads ≤ 65536, as the GPU enforces. Without NVRTC
/// (and FSR_REQUIRE_NVRTC unset) there are none and only the other limits are checked.
/// </summary>
internal static class KernelRegisterCounts
{
    private static readonly Lazy<IReadOnlyList<(string File, KernelResources Resources)>> Sm90 = new(() =>
    {
        if (NvrtcRequirement.Skip is not null) return [];
        var compiler = new NvrtcCompiler(cacheDirectory: null);
        return KernelSources.Files
            .SelectMany(file => compiler.Compile(KernelSources.Load(file), "sm_90").Resources.Select(r => (file, r)))
            .ToList();
    });

    /// <summary>An emulated device that knows every kernel's sm_90 register count.</summary>
    public static EmulatedCudaDevice Device(EmulatorOptions options)
    {
        var device = new EmulatedCudaDevice(options);
        foreach (var (file, resources) in Sm90.Value)
            device.SetRegisterCount(device.Function(file, resources.Kernel), resources.Registers);
        return device;
    }
}
