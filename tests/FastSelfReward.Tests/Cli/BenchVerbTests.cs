using System.Text.Json;

namespace FastSelfReward.Tests.Cli;

/// <summary>
/// Keeps `fsr bench --short` from rotting: the verb runs end to end (tiny config) and its JSON
/// carries every field the report promises. No timing is asserted: the host is shared.
/// </summary>
public sealed class BenchVerbTests
{
    [Fact]
    public void ShortBenchPrintsEveryField()
    {
        var result = CliRunner.Run("bench", "--short");
        Assert.True(result.ExitCode == 0, result.Error);
        using var json = JsonDocument.Parse(result.Out);
        var root = json.RootElement;
        Assert.Contains("BLAS", root.GetProperty("describe").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("load_average_at_start").GetString()));
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
        foreach (var field in new[] { "tokens_per_second", "tokens_per_cpu_second", "gflops", "median_step_seconds", "cpu_seconds_per_step" })
            Assert.True(training.GetProperty(field).GetDouble() > 0, field);
        Assert.False(string.IsNullOrEmpty(training.GetProperty("flops_formula").GetString()));
        var ops = training.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()).ToList();
        foreach (var op in new[] { "Gemm", "AttentionForward", "AttentionBackward", "AdamW", "TokenLogProbs", "(outside kernels)" })
            Assert.Contains(op, ops);
        Assert.True(training.GetProperty("gemm_breakdown").GetArrayLength() > 0);

        var generation = tiny.GetProperty("generation").EnumerateArray().ToList();
        Assert.Equal([1, 32], generation.Select(g => g.GetProperty("batch").GetInt32()));
        foreach (var g in generation)
        {
            Assert.True(g.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.True(g.GetProperty("gflops").GetDouble() > 0);
            Assert.Contains("DecodeAttention", g.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()));
        }
    }

    [Fact]
    public void UnknownConfigIsAUsageError()
    {
        var result = CliRunner.Run("bench", "--config", "huge");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown config 'huge'", result.Error);
    }
}
