using System.Text.Json;
using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;

namespace FastSelfReward.Tests.Cli;

/// <summary>
/// Keeps `fsr bench --short` from rotting: the verb runs end to end (tiny config) on the CPU and on
/// the emulated GPU, and its JSON carries every field the report promises. No timing is asserted: the host is shared.
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
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.False(root.GetProperty("asynchronous").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("workload").ValueKind);
        Assert.Contains("BLAS", root.GetProperty("describe").GetString());
        Assert.True(root.GetProperty("threads").GetInt32() > 0);
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
        // Attention's rate: its kernels' milliseconds from the breakdown, over causal attention's FLOPs.
        var attention = training.GetProperty("attention");
        double Op(string name) => training.GetProperty("breakdown").EnumerateArray().First(o => o.GetProperty("op").GetString() == name).GetProperty("ms").GetDouble();
        Assert.Equal(Op("AttentionForward"), attention.GetProperty("forward_ms").GetDouble());
        Assert.Equal(Op("AttentionBackward"), attention.GetProperty("backward_ms").GetDouble());
        var model = tiny.GetProperty("model");
        double forwardFlops = 4.0 * 8 * model.GetProperty("heads").GetInt32() * model.GetProperty("head_dim").GetInt32() * model.GetProperty("layers").GetInt32() * 256 * 257 / 2;
        Assert.Equal(3.5 * forwardFlops, attention.GetProperty("flops").GetDouble());
        Assert.Equal(3.5 * forwardFlops / ((Op("AttentionForward") + Op("AttentionBackward")) / 1e3) / 1e9, attention.GetProperty("gflops").GetDouble(), 0.1);
        Assert.Equal("F32", tiny.GetProperty("storage_type").GetString());
        AssertCeiling(training, "F32");

        var generation = tiny.GetProperty("generation").EnumerateArray().ToList();
        Assert.Equal([1, 32], generation.Select(g => g.GetProperty("batch").GetInt32()));
        foreach (var g in generation)
        {
            Assert.True(g.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.True(g.GetProperty("gflops").GetDouble() > 0);
            Assert.Contains("DecodeAttention", g.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()));
            AssertCeiling(g, "F32");
        }
    }

    /// <summary>
    /// The CUDA path on the emulated GPU: CPU-only fields are null, the workload is the emulator's
    /// shrunk one and says so, per-op times are synchronised, and the ceiling is in the model's type.
    /// </summary>
    [Fact]
    public void ShortBenchOnTheEmulatedGpuPrintsEveryField()
    {
        var expected = BenchSettings.For(DeviceKind.Emulated, quick: true);
        var result = CliRunner.Run("bench", "--short", "--device", "emulated", "--config", "tiny");
        Assert.True(result.ExitCode == 0, result.Error);
        using var json = JsonDocument.Parse(result.Out);
        var root = json.RootElement;
        Assert.Equal("cuda", root.GetProperty("backend").GetString());
        Assert.Equal("emulated", root.GetProperty("device").GetString());
        Assert.Contains("emulated", root.GetProperty("describe").GetString());
        Assert.True(root.GetProperty("asynchronous").GetBoolean());
        foreach (var field in new[] { "threads", "load_average_at_start", "gemm_ceiling" })
            Assert.Equal(JsonValueKind.Null, root.GetProperty(field).ValueKind);
        Assert.Contains("emulated", root.GetProperty("workload").GetString());
        Assert.Contains("synchronisation", root.GetProperty("breakdown_timing").GetString());

        var tiny = Assert.Single(root.GetProperty("configs").EnumerateArray());
        Assert.Equal("tiny", tiny.GetProperty("name").GetString());
        string type = tiny.GetProperty("storage_type").GetString()!;
        var training = tiny.GetProperty("training");
        Assert.Equal(expected.Batch, training.GetProperty("batch").GetInt32());
        Assert.Equal(expected.SeqLen, training.GetProperty("seq_len").GetInt32());
        Assert.Equal(expected.TimedSteps, training.GetProperty("profiled_steps").GetInt32());
        Assert.True(training.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.True(training.GetProperty("median_step_seconds").GetDouble() > 0);
        foreach (var field in new[] { "cpu_seconds_per_step", "tokens_per_cpu_second" })
            Assert.Equal(JsonValueKind.Null, training.GetProperty(field).ValueKind);
        var ops = training.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()).ToList();
        foreach (var op in new[] { "Gemm", "AttentionForward", "AttentionBackward", "AdamW", "TokenLogProbs", "(outside kernels)" })
            Assert.Contains(op, ops);
        AssertCeiling(training, type);

        var generation = tiny.GetProperty("generation").EnumerateArray().ToList();
        Assert.Equal(expected.GenerationBatches, generation.Select(g => g.GetProperty("batch").GetInt32()));
        foreach (var g in generation)
        {
            Assert.Equal(expected.NewTokens, g.GetProperty("new_tokens").GetInt32());
            Assert.True(g.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.Equal(JsonValueKind.Null, g.GetProperty("cpu_seconds_per_run").ValueKind);
            Assert.Contains("DecodeAttention", g.GetProperty("breakdown").EnumerateArray().Select(o => o.GetProperty("op").GetString()));
            AssertCeiling(g, type);
        }
    }

    // Every GEMM shape the run called is timed alone in the model's type, and the achieved figure is set against the combination.
    private static void AssertCeiling(JsonElement result, string type)
    {
        var ceiling = result.GetProperty("ceiling");
        Assert.Equal(type, ceiling.GetProperty("type").GetString());
        Assert.True(ceiling.GetProperty("gflops").GetDouble() > 0);
        var shapes = ceiling.GetProperty("shapes").EnumerateArray().Select(s => s.GetProperty("shape").GetString()).ToList();
        Assert.Equal(result.GetProperty("gemm_breakdown").EnumerateArray().Select(g => g.GetProperty("shape").GetString()).Order(), shapes.Order());
        Assert.All(shapes, s => Assert.Contains(type, s));
        Assert.True(result.GetProperty("percent_of_ceiling").GetDouble() >= 0);
    }

    [Fact]
    public void UnknownConfigIsAUsageError()
    {
        var result = CliRunner.Run("bench", "--config", "huge");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown config 'huge'", result.Error);
    }
}
