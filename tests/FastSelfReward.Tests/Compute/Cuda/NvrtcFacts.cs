using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// Whether the NVRTC tests run. They skip, with the loader's trace as the reason, only when no
/// NVRTC loads and FSR_REQUIRE_NVRTC is unset; `./build.sh test` installs NVRTC and sets it, so in
/// CI a missing NVRTC fails the tests instead of skipping them.
/// </summary>
internal static class NvrtcRequirement
{
    private static readonly Lazy<string?> SkipReason = new(() =>
    {
        if (NvrtcCompiler.IsAvailable(out string reason)) return null;
        if (Environment.GetEnvironmentVariable("FSR_REQUIRE_NVRTC") is { Length: > 0 } and not "0") return null;
        return $"NVRTC is not installed (Debian: libnvrtc11.2 libnvrtc-builtins11.8, component non-free; " +
               $"set FSR_REQUIRE_NVRTC=1 to fail instead): {reason}";
    });

    public static string? Skip => SkipReason.Value;
}

/// <summary>A fact that needs NVRTC; see <see cref="NvrtcRequirement"/>.</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute() => Skip = NvrtcRequirement.Skip;
}

/// <summary>A theory that needs NVRTC; see <see cref="NvrtcRequirement"/>.</summary>
public sealed class NvrtcTheoryAttribute : TheoryAttribute
{
    public NvrtcTheoryAttribute() => Skip = NvrtcRequirement.Skip;
}
