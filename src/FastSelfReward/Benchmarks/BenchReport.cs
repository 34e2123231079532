using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastSelfReward.Benchmarks;

/// <summary>
/// What `fsr bench` prints: the machine, the ceilings, and per config training and generation.
/// Fields that describe the host CPU (<see cref="Threads"/>, <see cref="LoadAverageAtStart"/>, the
/// BLAS sgemm <see cref="GemmCeiling"/>, CPU seconds) are set on the cpu device only and null on
/// cuda and emulated. On the CPU, CPU seconds (the process's, all threads) next to wall seconds
/// show how much of the machine the run got: wall ≈ CPU / threads on an idle host, wall ≫ that when
/// other work shares the cores. <c>*_per_cpu_second</c> × threads is then the throughput the run
/// would have had with its cores to itself; spin-waits and cache misses caused by other work count
/// as work, so it errs low.
/// <see cref="Backend"/> is "cpu" or "cuda"; <see cref="Device"/> says where the kernels ran: "cpu",
/// "cuda" (a GPU) or "emulated" (the CUDA kernels on the CPU emulator); <see cref="Describe"/> is the
/// backend's own description (the GPU and its toolchain, or the BLAS, threads and CPU features);
/// <see cref="Asynchronous"/> whether ops return before they have run; <see cref="Workload"/> what was
/// shrunk below the usual workload and why (null when nothing was); <see cref="BreakdownTiming"/>
/// how the per-op times were taken.
/// </summary>
public sealed record BenchReport(
    string Backend,
    string Device,
    string Describe,
    bool Asynchronous,
    int? Threads,
    string? LoadAverageAtStart,
    string Note,
    string? Workload,
    string BreakdownTiming,
    IReadOnlyList<GemmResult>? GemmCeiling,
    IReadOnlyList<ConfigResult> Configs)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // The report is read by people and scripts, never embedded in HTML: keep '+' and quotes as they are.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The report as `fsr bench` prints it (snake_case fields).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>sgemm throughput of the BLAS in use on one shape (row-major C[m,n] = op(A) op(B)).</summary>
public sealed record GemmResult(string Shape, long M, long N, long K, bool TransA, bool TransB, double MedianMs, double Gflops);

/// <summary>One model configuration's results; <see cref="StorageType"/> is the type the model stores its parameters and activations in.</summary>
public sealed record ConfigResult(
    string Name,
    string Purpose,
    ModelShape Model,
    string StorageType,
    TrainingResult Training,
    IReadOnlyList<GenerationResult> Generation);

/// <summary>The benchmarked architecture and its parameter count (lm_head included: untied).</summary>
public sealed record ModelShape(int Dim, int Layers, int Heads, int KvHeads, int HeadDim, int Ffn, int Vocab, long Parameters);

/// <summary>
/// The GEMM throughput a run could reach: each GEMM shape (and type) the run called, timed alone
/// through the same backend's Gemm, and combined as Σ calls·FLOPs / Σ calls·time, which is the
/// GFLOP/s the run's GEMMs would achieve if every one ran as fast as it does alone. <see cref="Type"/>
/// is the operand type as the model stores it ("F32", "BF16"); <see cref="Method"/> says how it was measured.
/// </summary>
public sealed record GemmCeiling(string Type, string Method, double Gflops, IReadOnlyList<CeilingShape> Shapes);

/// <summary>One GEMM shape of a run: calls per step (or generation run), median time per call alone, GFLOP/s alone.</summary>
public sealed record CeilingShape(string Shape, double Calls, double MedianMs, double Gflops);

/// <summary>
/// Optimizer steps over one micro-batch of <see cref="Batch"/> × <see cref="SeqLen"/> tokens: forward,
/// backward, gradient norm and AdamW. Time per step is the median over the timed steps, each ended by
/// a device synchronisation. On an asynchronous backend the breakdown comes from
/// <see cref="ProfiledSteps"/> further steps in which every op is synchronised; on the CPU from the timed steps.
/// <see cref="PercentOfCeiling"/> is 100 · <see cref="Gflops"/> / <see cref="Ceiling"/>.Gflops; <see cref="Attention"/>
/// is the attention kernels' own rate (null when the breakdown has none).
/// </summary>
public sealed record TrainingResult(
    int Batch,
    int SeqLen,
    int WarmupSteps,
    int TimedSteps,
    int ProfiledSteps,
    double MedianStepSeconds,
    double MinStepSeconds,
    double? CpuSecondsPerStep,
    double TokensPerSecond,
    double? TokensPerCpuSecond,
    string FlopsFormula,
    double FlopsPerToken,
    double Gflops,
    GemmCeiling Ceiling,
    double PercentOfCeiling,
    double StepSecondsAccounted,
    IReadOnlyList<OpShare> Breakdown,
    IReadOnlyList<GemmShare> GemmBreakdown,
    AttentionRate? Attention);

/// <summary>
/// Attention's kernels in a training step: their time per step (from <see cref="TrainingResult.Breakdown"/>) and
/// rate. <see cref="Flops"/> counts the useful work of causal attention: the forward 4·B·H·hd·L·T(T+1)/2 (Q·Kᵀ
/// and P·V over the pairs j ≤ i), the backward 2.5 times that (FlashAttention's convention: five products
/// of that size to the forward's two), whatever a kernel recomputes.
/// </summary>
public sealed record AttentionRate(double ForwardMs, double BackwardMs, double Flops, double Gflops);

/// <summary>
/// Greedy decoding with the paged KV cache from 1-token prompts: <see cref="Batch"/> sequences of
/// <see cref="NewTokens"/> tokens each (no stop tokens). Tokens/s counts every generated token of every sequence.
/// </summary>
public sealed record GenerationResult(
    int Batch,
    int NewTokens,
    int WarmupRuns,
    int TimedRuns,
    int ProfiledRuns,
    double MedianSeconds,
    double? CpuSecondsPerRun,
    double TokensPerSecond,
    double? TokensPerCpuSecond,
    string FlopsFormula,
    double Gflops,
    GemmCeiling Ceiling,
    double PercentOfCeiling,
    IReadOnlyList<OpShare> Breakdown,
    IReadOnlyList<GemmShare> GemmBreakdown);

/// <summary>One op's time per step (or per generation run) and its share of the profiled wall time.</summary>
public sealed record OpShare(string Op, double Calls, double Ms, double Percent);

/// <summary>One GEMM shape's time per step and its achieved GFLOP/s.</summary>
public sealed record GemmShare(string Shape, double Calls, double Ms, double Gflops);
