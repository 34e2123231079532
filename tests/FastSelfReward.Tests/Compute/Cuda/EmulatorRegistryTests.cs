using System.Text.RegularExpressions;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// Every kernel of kernels/*.cu reaches the emulator: each <c>extern "C" __global__</c> function is
/// followed by FSR_REGISTER_KERNEL (under NVRTC the macro is empty, so forgetting it would only
/// show when the emulated device cannot find the kernel), and libfsr_cuda_emu resolves it by name.
/// </summary>
public sealed partial class EmulatorRegistryTests
{
    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s+)?(\w+)\s*\(")]
    private static partial Regex KernelDefinition();

    [GeneratedRegex(@"^\s*FSR_REGISTER_KERNEL\((\w+)\)", RegexOptions.Multiline)]
    private static partial Regex KernelRegistration();

    [Fact]
    public void Every_kernel_of_every_kernel_file_is_registered_in_the_emulator()
    {
        string kernels = Path.Combine(EmulatorTestSupport.RepositoryRoot(), "kernels");
        string[] files = Directory.GetFiles(kernels, "*.cu");
        Assert.NotEmpty(files);
        using var device = new EmulatedCudaDevice();
        foreach (string path in files)
        {
            string source = File.ReadAllText(path);
            string file = Path.GetFileName(path);
            string[] defined = KernelDefinition().Matches(source).Select(m => m.Groups[1].Value).Order().ToArray();
            string[] registered = KernelRegistration().Matches(source).Select(m => m.Groups[1].Value).Order().ToArray();
            Assert.True(defined.SequenceEqual(registered),
                $"{file}: kernels [{string.Join(", ", defined)}] but FSR_REGISTER_KERNEL for [{string.Join(", ", registered)}]");
            foreach (string name in defined) Assert.NotEqual(0, device.Function(file, name).Handle);
        }
    }
}
