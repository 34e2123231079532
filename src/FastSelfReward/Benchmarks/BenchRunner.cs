using System.Diagnostics;
using FastSelfReward.Compute;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Training;

namespace FastSelfReward.Benchmarks;

/// <summary>How much `fsr bench` runs. <see cref="Short"/> keeps every measurement but few repeats and tokens.</summary>
public sealed record BenchSettings
{
    /// <summary>Config names (<see cref="BenchRunner.Configs"/>) to run, in order.</summary>
    public IReadOnlyList<string> Configs { get; init; } = ["tiny", "bench"];
    public bool Short { get; init; }
    public int Batch { get; init; } = 8;
    public int SeqLen { get; init; } = 256;
    public IReadOnlyList<int> GenerationBatches { get; init; } = [1, 32];
    public int Seed { get; init; } = 1234;
}

/// <summary>
/// The CPU engine's benchmark: training and generation throughput of <see cref="LlamaModel"/> on fixed
/// configs, a per-op breakdown from <see cref="ProfilingKernels"/>, and the sgemm ceiling of the BLAS
/// in use. Every figure is a median over timed repeats with warm-up runs excluded; the machines are
/// shared and noisy, so compare ratios within one report, not across reports.
/// </summary>
public static class BenchRunner
{
    /// <summary>FLOP counting, stated with every figure (llm.c and PaLM convention; causal attention counts half of T²).</summary>
    public const string TrainFlopsFormula = "6*N + 6*L*T*(heads*head_dim) per trained token, N = all parameters incl. embedding and lm_head";
    public const string GenerateFlopsFormula = "2*N + 4*L*t*(heads*head_dim) per generated token at context length t, N = all parameters";

    /// <summary>The benchmark configs: "bench" is the 32M-parameter peer shape of DESIGN.md, "tiny" a seconds-long stand-in.</summary>
    public static readonly IReadOnlyDictionary<string, LlamaConfig> Configs = new Dictionary<string, LlamaConfig>
    {
        ["bench"] = new()
        {
            VocabSize = 8192, HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 8,
            NumAttentionHeads = 8, NumKeyValueHeads = 4, RmsNormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 1024, TieWordEmbeddings = false,
        },
        ["tiny"] = new()
        {
            VocabSize = 512, HiddenSize = 64, IntermediateSize = 176, NumHiddenLayers = 2,
            NumAttentionHeads = 4, NumKeyValueHeads = 2, RmsNormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 1024, TieWordEmbeddings = false,
        },
    };

    public static BenchReport Run(CpuKernels kernels, BenchSettings settings, Action<string>? progress = null)
    {
        foreach (var name in settings.Configs)
            if (!Configs.ContainsKey(name))
                throw new ArgumentException($"unknown bench config '{name}' (known: {string.Join(", ", Configs.Keys)})");
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        progress?.Invoke("sgemm ceiling");
        var ceiling = GemmCeiling(kernels, settings.Short);
        var configs = new List<ConfigResult>();
        foreach (var name in settings.Configs)
        {
            var config = Configs[name];
            var profiler = new ProfilingKernels(kernels);
            using var model = new LlamaModel(profiler, config);
            model.InitializeRandom(settings.Seed);
            progress?.Invoke($"{name}: training B={settings.Batch} T={settings.SeqLen}");
            var training = Train(model, profiler, settings);
            var generation = new List<GenerationResult>();
            foreach (int batch in settings.GenerationBatches)
            {
                progress?.Invoke($"{name}: generation batch {batch}");
                generation.Add(Generate(model, profiler, batch, settings));
            }
            var shape = new ModelShape(config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.KvHeads,
                config.IntermediateSize, config.VocabSize, config.ParameterCount);
            configs.Add(new ConfigResult(name, shape, training, generation));
        }
        string note = "medians over timed repeats, warm-up excluded; the host is shared and noisy: compare ratios within one report. "
            + "Peers on the bench config (DESIGN.md): TorchSharp 837-990 train tok/s (166-196 GFLOP/s by this formula), 98-139 gen tok/s at batch 1, "
            + "596-1018 at batch 32; llama2.c ~275 at batch 1; llm.c CPU ~132 train tok/s.";
        return new BenchReport(kernels.Name, kernels.Describe(), CpuKernels.Threads, load, note, ceiling, configs);
    }

    /// <summary>The model's GEMM shapes at B·T = 2048 rows (forward, input gradient, weight gradient), a decode batch of 32, and one row.</summary>
    private static readonly (long M, long N, long K, bool TA, bool TB, string Role)[] CeilingShapes =
    [
        (2048, 512, 512, false, true, "q/o proj fwd"),
        (2048, 1408, 512, false, true, "gate/up fwd"),
        (2048, 512, 1408, false, true, "down fwd"),
        (2048, 8192, 512, false, true, "lm_head fwd"),
        (2048, 512, 8192, false, false, "lm_head dx"),
        (8192, 512, 2048, true, false, "lm_head dW"),
        (1408, 512, 2048, true, false, "gate/up dW"),
        (32, 1408, 512, false, true, "decode32 gate/up"),
        (32, 512, 1408, false, true, "decode32 down"),
        (32, 8192, 512, false, true, "decode32 lm_head"),
        (1, 8192, 512, false, true, "decode1 lm_head"),
    ];

    private static List<GemmResult> GemmCeiling(CpuKernels kernels, bool quick)
    {
        var results = new List<GemmResult>();
        foreach (var (m, n, k, ta, tb, role) in CeilingShapes)
        {
            using var a = kernels.Allocate(m * k, DType.F32);
            using var b = kernels.Allocate(k * n, DType.F32);
            using var c = kernels.Allocate(m * n, DType.F32);
            Fill(kernels, a, 1);
            Fill(kernels, b, 2);
            double flops = 2.0 * m * n * k;
            // About 0.2 s of work per shape at the expected ~300 GFLOP/s (--short: a tenth, at least 2 runs).
            int repeats = (int)Math.Clamp((quick ? 6e9 : 6e10) / flops, quick ? 2 : 3, quick ? 20 : 200);
            double seconds = Median(Time(repeats, warmup: quick ? 1 : 2, () =>
                kernels.Gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n)));
            results.Add(new GemmResult($"{role}: {m}x{n}x{k} {(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}", m, n, k, ta, tb,
                Round(seconds * 1e3, 3), Round(flops / seconds / 1e9, 1)));
        }
        return results;
    }

    private static TrainingResult Train(LlamaModel model, ProfilingKernels profiler, BenchSettings settings)
    {
        var config = model.Config;
        using var optimizer = new AdamWOptimizer(model, new AdamWOptions { WeightDecay = 0.1 });
        var trainer = new CausalLmTrainer(model, optimizer, new LearningRateSchedule(3e-4, 3e-5, 2, 1000));
        var random = new Random(settings.Seed);
        var batch = Enumerable.Range(0, settings.Batch)
            .Select(_ => new LmExample(Enumerable.Range(0, settings.SeqLen).Select(_ => random.Next(config.VocabSize)).ToArray()))
            .ToArray();
        int warmup = settings.Short ? 1 : 2, timed = settings.Short ? 2 : 6;
        for (int i = 0; i < warmup; i++) trainer.Step([batch]);
        profiler.Reset();
        var cpu = CpuSeconds();
        var seconds = Time(timed, warmup: 0, () => trainer.Step([batch]));
        double cpuPerStep = (CpuSeconds() - cpu) / timed;
        double median = Median(seconds);
        long tokens = (long)settings.Batch * settings.SeqLen;
        double flopsPerToken = 6.0 * config.ParameterCount + 6.0 * config.NumHiddenLayers * settings.SeqLen * config.QueryDim;
        var (ops, gemms, accounted) = Breakdown(profiler, timed, seconds.Sum());
        return new TrainingResult(settings.Batch, settings.SeqLen, warmup, timed, Round(median, 4), Round(seconds.Min(), 4),
            Round(cpuPerStep, 4), Round(tokens / median, 1), Round(tokens / cpuPerStep, 1), TrainFlopsFormula, flopsPerToken, Round(flopsPerToken * tokens / median / 1e9, 1),
            Round(accounted, 4), ops, gemms);
    }

    private static GenerationResult Generate(LlamaModel model, ProfilingKernels profiler, int batch, BenchSettings settings)
    {
        var config = model.Config;
        int newTokens = settings.Short ? 32 : 256;
        using var generator = new Generator(model, stopTokens: [], maxRows: batch);
        var requests = Enumerable.Range(0, batch)
            .Select(i => new GenerationRequest(i, [(i * 37 + 5) % config.VocabSize]))
            .ToArray();
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = newTokens };
        int warmup = 1, timed = settings.Short ? 2 : 3;
        for (int i = 0; i < warmup; i++) generator.Generate(requests, options);
        profiler.Reset();
        var cpu = CpuSeconds();
        var seconds = Time(timed, warmup: 0, () => generator.Generate(requests, options));
        double cpuPerRun = (CpuSeconds() - cpu) / timed;
        double median = Median(seconds);
        long generated = (long)batch * newTokens;
        // The first token comes from the prefill; token j ≥ 1 is decoded with a context of j + 1 (the prompt token included).
        double flops = 0;
        for (int j = 0; j < newTokens; j++)
            flops += 2.0 * config.ParameterCount + 4.0 * config.NumHiddenLayers * (j + 1) * config.QueryDim;
        flops *= batch;
        var (ops, gemms, _) = Breakdown(profiler, timed, seconds.Sum());
        return new GenerationResult(batch, newTokens, warmup, timed, Round(median, 4), Round(cpuPerRun, 4), Round(generated / median, 1), Round(generated / cpuPerRun, 1),
            GenerateFlopsFormula, Round(flops / median / 1e9, 1), ops, gemms);
    }

    private static (List<OpShare> Ops, List<GemmShare> Gemms, double AccountedSeconds) Breakdown(ProfilingKernels profiler, int runs, double wallSeconds)
    {
        double total = profiler.Ops.Values.Sum(o => o.Seconds);
        var ops = profiler.Ops.OrderByDescending(o => o.Value.Ticks)
            .Select(o => new OpShare(o.Key, Round((double)o.Value.Calls / runs, 1), Round(o.Value.Seconds / runs * 1e3, 3),
                Round(100 * o.Value.Seconds / wallSeconds, 1)))
            .ToList();
        ops.Add(new OpShare("(outside kernels)", 0, Round((wallSeconds - total) / runs * 1e3, 3), Round(100 * (wallSeconds - total) / wallSeconds, 1)));
        var gemms = profiler.Gemms.OrderByDescending(g => g.Value.Ticks)
            .Select(g => new GemmShare($"{g.Key.M}x{g.Key.N}x{g.Key.K} {(g.Key.TransA ? 'T' : 'N')}{(g.Key.TransB ? 'T' : 'N')}",
                Round((double)g.Value.Calls / runs, 1), Round(g.Value.Seconds / runs * 1e3, 3), Round(g.Value.Flops / g.Value.Seconds / 1e9, 1)))
            .ToList();
        return (ops, gemms, total / runs);
    }

    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static void Fill(IKernels kernels, Tensor t, int seed)
    {
        var random = new Random(seed);
        var values = new float[t.Length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() - 0.5);
        kernels.Upload(t, values);
    }

    private static double[] Time(int repeats, int warmup, Action action)
    {
        for (int i = 0; i < warmup; i++) action();
        var seconds = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return seconds;
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    private static double Round(double value, int digits) => Math.Round(value, digits);
}
