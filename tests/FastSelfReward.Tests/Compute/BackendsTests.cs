using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute;

public sealed class BackendsTests
{
    [Fact]
    public void Auto_uses_a_gpu_when_present_and_says_why_not_otherwise()
    {
        bool gpu = RealCudaDevice.Enumerate(out string? whyNone).Count > 0;
        using IKernels kernels = Backends.Create(DeviceKind.Auto, out string? note);
        if (gpu)
        {
            Assert.IsType<CudaKernels>(kernels);
            return;
        }
        Assert.IsType<CpuKernels>(kernels);
        Assert.NotNull(whyNone);
        Assert.Contains(whyNone, note);
        var error = Assert.Throws<InvalidOperationException>(() => Backends.Create(DeviceKind.Cuda, out _));
        Assert.StartsWith("no GPU", error.Message);
        Assert.DoesNotContain("--", error.Message);
    }

    [Fact]
    public void Cpu_is_always_the_cpu()
    {
        using IKernels kernels = Backends.Create(DeviceKind.Cpu, out string? note);
        Assert.IsType<CpuKernels>(kernels);
        Assert.Null(note);
    }
}
