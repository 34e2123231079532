using System.Text.Json;
using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;

namespace FastSelfReward.Tests.Benchmarks;

/// <summary>
/// Keeps `fsr bench --short` from rotting: the bench library runs end to end on the tiny config and
/// its JSON carries every field the report promises. No timing is asserted (the host is shared).
/// </summary>
public sealed class BenchRunnerTests
{
    [Fact]
    public void ShortTinyBenchPrintsEveryField()
    {
        using var kernels = new CpuKernels();
        var report = BenchRunner.Run(kernels, new BenchSettings { Configs = ["tiny"], Short = true, GenerationBatches = [1, 4] });
        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        Assert.Contains("BLAS", root.GetProperty("describe").GetString());
        var ceiling = root.GetProperty("gemm_ceiling");
        Assert.True(ceiling.GetArrayLength() > 0);
        foreach (var shape in ceiling.EnumerateArray())
            Assert.True(shape.GetProperty("gflops").GetDouble() > 0);

        var tiny = Assert.Single(root.GetProperty("configs").EnumerateArray());
        Assert.Equal("tiny", tiny.GetProperty("name").GetString());
        Assert.True(tiny.GetProperty("model").GetProperty("parameters").GetInt64() > 0);
        var training = tiny.GetProperty("training");
        Assert.Equal(8, training.GetProperty("batch").GetInt32());
        Assert.Equal(256, training.GetProperty("seq_len").GetInt32());
        Assert.True(training.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.True(training.GetProperty("gflops").GetDouble() > 0);
        Assert.False(string.IsNullOrEmpty(training.GetProperty("flops_formula").GetString()));
        var ops = training.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()).ToList();
        foreach (var op in new[] { "Gemm", "AttentionForward", "AttentionBackward", "AdamW", "TokenLogProbs" })
            Assert.Contains(op, ops);
        Assert.True(training.GetProperty("gemm_breakdown").GetArrayLength() > 0);

        var generation = tiny.GetProperty("generation").EnumerateArray().ToList();
        Assert.Equal([1, 4], generation.Select(g => g.GetProperty("batch").GetInt32()));
        foreach (var g in generation)
        {
            Assert.True(g.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.Contains("DecodeAttention", g.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()));
        }
    }
}
