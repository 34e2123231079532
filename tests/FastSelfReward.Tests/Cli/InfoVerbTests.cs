using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Cli;

public sealed class InfoVerbTests
{
    [Fact]
    public void Info_lists_the_gpus_or_says_there_is_none()
    {
        IReadOnlyList<CudaDeviceInfo> gpus = RealCudaDevice.Enumerate(out string? whyNone);
        var result = CliRunner.Run("info");
        Assert.Equal(0, result.ExitCode);
        if (gpus.Count == 0) Assert.Contains($"gpus: none ({whyNone})", result.Out);
        else Assert.Contains($"  {gpus[0]}", result.Out);
    }

    [Fact]
    public void Device_auto_falls_back_to_the_cpu_and_cuda_without_a_gpu_is_a_failure()
    {
        if (RealCudaDevice.Enumerate(out _).Count > 0) return; // a GPU machine: both would pick it
        var auto = CliRunner.Run("info", "--device", "auto");
        Assert.Equal(0, auto.ExitCode);
        Assert.StartsWith("backend: cpu", auto.Out);
        Assert.Contains("using the CPU", auto.Out);

        var cuda = CliRunner.Run("info", "--device", "cuda");
        Assert.Equal(1, cuda.ExitCode);
        Assert.StartsWith("fsr info: --device cuda: no GPU", cuda.Error);
    }

    [Fact]
    public void An_unknown_device_is_a_usage_error()
    {
        var result = CliRunner.Run("info", "--device", "tpu");
        Assert.Equal(2, result.ExitCode);
    }
}
