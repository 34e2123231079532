using System.Text.Json;

namespace FastSelfReward.Benchmarks;

/// <summary>
/// What `fsr bench` prints: the machine, the BLAS ceiling, and per config training and generation.
/// CPU seconds (the process's, all threads) next to wall seconds show how much of the machine the
/// run got: wall ≈ CPU / threads on an idle host, wall ≫ that when other work shares the cores.
/// <c>*_per_cpu_second</c> × threads is then the throughput the run would have had with its cores to
/// itself; spin-waits and cache misses caused by other work count as work, so it errs low.
/// </summary>
public sealed record BenchReport(
    string Backend,
    string Describe,
    int Threads,
    string LoadAverageAtStart,
    string Note,
    IReadOnlyList<GemmResult> GemmCeiling,
    IReadOnlyList<ConfigResult> Configs)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>The report as `fsr bench` prints it (snake_case fields).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>sgemm throughput of the BLAS in use on one shape (row-major C[m,n] = op(A) op(B)).</summary>
public sealed record GemmResult(string Shape, long M, long N, long K, bool TransA, bool TransB, double MedianMs, double Gflops);

/// <summary>One model configuration's results.</summary>
public sealed record ConfigResult(
    string Name,
    ModelShape Model,
    TrainingResult Training,
    IReadOnlyList<GenerationResult> Generation);

/// <summary>The benchmarked architecture and its parameter count (lm_head included: untied).</summary>
public sealed record ModelShape(int Dim, int Layers, int Heads, int KvHeads, int Ffn, int Vocab, long Parameters);

/// <summary>
/// Optimizer steps over one micro-batch of <see cref="Batch"/> × <see cref="SeqLen"/> tokens: forward,
/// backward, gradient norm and AdamW. Time per step is the median over the timed steps.
/// </summary>
public sealed record TrainingResult(
    int Batch,
    int SeqLen,
    int WarmupSteps,
    int TimedSteps,
    double MedianStepSeconds,
    double MinStepSeconds,
    double CpuSecondsPerStep,
    double TokensPerSecond,
    double TokensPerCpuSecond,
    string FlopsFormula,
    double FlopsPerToken,
    double Gflops,
    double StepSecondsAccounted,
    IReadOnlyList<OpShare> Breakdown,
    IReadOnlyList<GemmShare> GemmBreakdown);

/// <summary>
/// Greedy decoding with the paged KV cache from 1-token prompts: <see cref="Batch"/> sequences of
/// <see cref="NewTokens"/> tokens each (no stop tokens). Tokens/s counts every generated token of every sequence.
/// </summary>
public sealed record GenerationResult(
    int Batch,
    int NewTokens,
    int WarmupRuns,
    int TimedRuns,
    double MedianSeconds,
    double CpuSecondsPerRun,
    double TokensPerSecond,
    double TokensPerCpuSecond,
    string FlopsFormula,
    double Gflops,
    IReadOnlyList<OpShare> Breakdown,
    IReadOnlyList<GemmShare> GemmBreakdown);

/// <summary>One op's time per step (or per generation run) and its share of the wall time.</summary>
public sealed record OpShare(string Op, double Calls, double Ms, double Percent);

/// <summary>One GEMM shape's time per step and its achieved GFLOP/s.</summary>
public sealed record GemmShare(string Shape, double Calls, double Ms, double Gflops);
