using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;

namespace FastSelfReward.Tests.Benchmarks;

/// <summary>What `fsr bench` runs on each device by default, and the GPU config's shape.</summary>
public sealed class BenchSettingsTests
{
    [Fact]
    public void Cpu_runs_tiny_and_bench_and_tiny_alone_when_short()
    {
        Assert.Equal(["tiny", "bench"], BenchSettings.For(DeviceKind.Cpu, quick: false).Configs);
        var quick = BenchSettings.For(DeviceKind.Cpu, quick: true);
        Assert.Equal(["tiny"], quick.Configs);
        Assert.Null(quick.Batch);
        Assert.Null(quick.Workload);
        Assert.Equal(["bench"], BenchSettings.For(DeviceKind.Cpu, quick: true, ["bench"]).Configs);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gpu_runs_bench_and_1b_at_each_configs_own_batch(bool quick)
    {
        var settings = BenchSettings.For(DeviceKind.Cuda, quick);
        Assert.Equal(["bench", "1b"], settings.Configs);
        Assert.Null(settings.Batch);
        Assert.Null(settings.SeqLen);
        Assert.Null(settings.Workload);
        Assert.Equal(quick ? 32 : 256, settings.NewTokens);
    }

    [Fact]
    public void The_gpu_config_is_tinyllama_shaped_and_fits_the_cuda_attention()
    {
        var gpu = BenchRunner.Configs["1b"];
        var config = gpu.Model.Validate();
        Assert.Equal((8, 1024), (gpu.Batch, gpu.SeqLen));
        Assert.Equal(64, config.HeadDim);
        Assert.Equal(8, config.NumAttentionHeads / config.KvHeads);
        Assert.InRange(config.ParameterCount, 1.0e9, 1.2e9);
        Assert.True(gpu.SeqLen <= config.MaxPositionEmbeddings);
        Assert.All(BenchRunner.Configs.Values, c => Assert.InRange(c.Model.HeadDim, 1, 128));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_emulated_gpu_gets_a_smaller_workload_and_says_so(bool quick)
    {
        var settings = BenchSettings.For(DeviceKind.Emulated, quick);
        var gpu = BenchSettings.For(DeviceKind.Cuda, quick);
        Assert.Equal(["tiny"], settings.Configs);
        Assert.True(settings.Batch * settings.SeqLen < BenchRunner.Configs["tiny"].Batch * BenchRunner.Configs["tiny"].SeqLen);
        Assert.True(settings.NewTokens < gpu.NewTokens);
        Assert.True(settings.GenerationBatches.Max() < gpu.GenerationBatches.Max());
        Assert.Contains("emulated", settings.Workload);
        Assert.Contains($"B={settings.Batch}, T={settings.SeqLen}", settings.Workload);
    }
}
