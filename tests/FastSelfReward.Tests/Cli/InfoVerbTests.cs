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
    public void Precision_is_bf16_mixed_on_the_gpu_by_default_and_bf16_on_the_cpu_is_a_usage_error()
    {
        var cpu = CliRunner.Run("info");
        Assert.Contains("models: f32", cpu.Out);
        var emulated = CliRunner.Run("info", "--device", "emulated");
        Assert.Equal(0, emulated.ExitCode);
        Assert.Contains("models: bf16 mixed precision", emulated.Out);
        var fp32 = CliRunner.Run("info", "--device", "emulated", "--precision", "fp32");
        Assert.Contains("models: f32", fp32.Out);
        var bf16OnCpu = CliRunner.Run("info", "--precision", "bf16");
        Assert.Equal(2, bf16OnCpu.ExitCode);
        Assert.Contains("--precision bf16 needs a GPU", bf16OnCpu.Error);
    }

    [Fact]
    public void An_unknown_device_is_a_usage_error()
    {
        var result = CliRunner.Run("info", "--device", "tpu");
        Assert.Equal(2, result.ExitCode);
    }
}
