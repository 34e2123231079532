using System.Diagnostics;
using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Training;

namespace FastSelfReward.Benchmarks;

/// <summary>A benchmark model: the architecture, the training micro-batch it is measured at, and why it is in the set.</summary>
public sealed record BenchConfig(LlamaConfig Model, int Batch, int SeqLen, string Purpose);

/// <summary>How much `fsr bench` runs; <see cref="For"/> gives each device's defaults.</summary>
public sealed record BenchSettings
{
    /// <summary>Config names (<see cref="BenchRunner.Configs"/>) to run, in order.</summary>
    public IReadOnlyList<string> Configs { get; init; } = ["tiny", "bench"];
    /// <summary>Few repeats: also shortens the GEMM ceiling measurements.</summary>
    public bool Short { get; init; }
    /// <summary>Training sequences per step for every config; null: each config's own.</summary>
    public int? Batch { get; init; }
    /// <summary>Training tokens per sequence for every config; null: each config's own.</summary>
    public int? SeqLen { get; init; }
    /// <summary>Training steps run before the timed ones (allocations, kernel loading, caches).</summary>
    public int WarmupSteps { get; init; } = 2;
    /// <summary>Training steps timed; on an asynchronous backend as many again are profiled op by op.</summary>
    public int TimedSteps { get; init; } = 6;
    /// <summary>Generation batch sizes, each measured on its own.</summary>
    public IReadOnlyList<int> GenerationBatches { get; init; } = [1, 32];
    /// <summary>Tokens generated per sequence.</summary>
    public int NewTokens { get; init; } = 256;
    /// <summary>Generation runs timed per batch size, after one warm-up run.</summary>
    public int GenerationTimedRuns { get; init; } = 3;
    /// <summary>What was shrunk below the usual workload and why, for the report; null when nothing was.</summary>
    public string? Workload { get; init; }
    /// <summary>Seeds the weights and the random training tokens.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>
    /// The defaults for a device: tiny and bench on the CPU (tiny alone when short), bench and 1b on a
    /// GPU, tiny on the emulator, which runs kernels about a thousand times slower than a GPU and so
    /// also gets a smaller batch, fewer tokens and fewer timed repeats. <paramref name="configs"/>, when
    /// given, replaces the config list.
    /// </summary>
    public static BenchSettings For(DeviceKind device, bool quick, IReadOnlyList<string>? configs = null)
    {
        var settings = new BenchSettings
        {
            Short = quick,
            Configs = configs is { Count: > 0 } ? configs : device switch
            {
                DeviceKind.Cuda => ["bench", "1b"],
                DeviceKind.Emulated => ["tiny"],
                _ => quick ? ["tiny"] : ["tiny", "bench"],
            },
            WarmupSteps = quick ? 1 : 2,
            TimedSteps = quick ? 2 : 6,
            NewTokens = quick ? 32 : 256,
            GenerationTimedRuns = quick ? 2 : 3,
        };
        if (device != DeviceKind.Emulated) return settings;
        settings = quick
            ? settings with { Batch = 2, SeqLen = 64, GenerationBatches = [1, 4], NewTokens = 8, WarmupSteps = 1, TimedSteps = 1, GenerationTimedRuns = 1 }
            : settings with { Batch = 4, SeqLen = 128, GenerationBatches = [1, 8], NewTokens = 32, WarmupSteps = 1, TimedSteps = 2, GenerationTimedRuns = 2 };
        return settings with
        {
            Workload = $"emulated GPU (about 1000x slower than a GPU): training B={settings.Batch}, T={settings.SeqLen} for every config, "
                + $"generation batches {string.Join(" and ", settings.GenerationBatches)} of {settings.NewTokens} new tokens, "
                + $"{settings.TimedSteps} timed step(s) and {settings.GenerationTimedRuns} timed run(s); its times check the code path, they measure no GPU",
        };
    }
}

/// <summary>
/// The engine's benchmark on any backend: training and generation throughput of <see cref="LlamaModel"/>
/// on fixed configs, a per-op breakdown from <see cref="ProfilingKernels"/>, and next to each achieved
/// FLOP/s the GEMM ceiling of the same backend on the run's own GEMM shapes and types. Every figure is
/// a median over timed repeats with warm-up runs excluded; timed work ends with a device
/// synchronisation, so asynchronous launches are counted when they finish. The machines are shared
/// and noisy: compare ratios within one report, not across reports.
/// </summary>
public static class BenchRunner
{
    /// <summary>
    /// Training FLOPs per token, stated with every figure: the weights' forward and backward plus causal
    /// attention (llm.c and PaLM convention; causal attention counts half of T²).
    /// </summary>
    public const string TrainFlopsFormula = "6*N + 6*L*T*(heads*head_dim) per trained token, N = all parameters incl. embedding and lm_head";
    /// <summary>Generation FLOPs per token: the weights' forward plus attention over the context so far.</summary>
    public const string GenerateFlopsFormula = "2*N + 4*L*t*(heads*head_dim) per generated token at context length t, N = all parameters";

    /// <summary>
    /// The benchmark configs. "tiny" is a seconds-long stand-in; "bench" the 32M-parameter peer shape of
    /// docs/design.md; "1b" is TinyLlama-1.1B's architecture, sized for a GPU and published with its
    /// training throughput (24k tokens/s per A100-40G in bf16, 56% MFU).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, BenchConfig> Configs = new Dictionary<string, BenchConfig>
    {
        ["tiny"] = new(new()
        {
            VocabSize = 512, HiddenSize = 64, IntermediateSize = 176, NumHiddenLayers = 2,
            NumAttentionHeads = 4, NumKeyValueHeads = 2, RmsNormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 1024, TieWordEmbeddings = false,
        }, 8, 256, "seconds-long stand-in (CI, the emulated GPU)"),
        ["bench"] = new(new()
        {
            VocabSize = 8192, HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 8,
            NumAttentionHeads = 8, NumKeyValueHeads = 4, RmsNormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 1024, TieWordEmbeddings = false,
        }, 8, 256, "32M-parameter peer shape with CPU peer numbers (TorchSharp, llama2.c, llm.c)"),
        ["1b"] = new(new()
        {
            VocabSize = 32000, HiddenSize = 2048, IntermediateSize = 5632, NumHiddenLayers = 22,
            NumAttentionHeads = 32, NumKeyValueHeads = 4, RmsNormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 2048, TieWordEmbeddings = false,
        }, 8, 1024, "TinyLlama-1.1B's shape (head_dim 64, 8 query heads per KV head): GEMMs large enough to fill a GPU, "
            + "and a published peer: 24k train tokens/s per A100-40G in bf16 at seq 2048, 56% MFU"),
    };

    /// <summary>The device class of a backend: CPU, GPU, or the CUDA kernels on the emulator.</summary>
    public static DeviceKind DeviceOf(IKernels kernels) => kernels switch
    {
        CudaKernels { Device: EmulatedCudaDevice } => DeviceKind.Emulated,
        CudaKernels => DeviceKind.Cuda,
        _ => DeviceKind.Cpu,
    };

    /// <summary>Runs every config of <paramref name="settings"/> on <paramref name="kernels"/> and reports what each achieved.</summary>
    public static BenchReport Run(IKernels kernels, BenchSettings settings, Action<string>? progress = null)
    {
        foreach (var name in settings.Configs)
            if (!Configs.ContainsKey(name))
                throw new ArgumentException($"unknown bench config '{name}' (known: {string.Join(", ", Configs.Keys)})");
        var device = DeviceOf(kernels);
        bool cpu = device == DeviceKind.Cpu;
        string? load = !cpu ? null : File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        List<GemmResult>? sgemm = null;
        if (cpu)
        {
            progress?.Invoke("sgemm ceiling");
            sgemm = SgemmCeiling(kernels, settings.Short);
        }
        var run = new Measurements(kernels, device, settings);
        var configs = new List<ConfigResult>();
        foreach (var name in settings.Configs)
        {
            var bench = Configs[name];
            var config = bench.Model;
            var profiler = new ProfilingKernels(kernels);
            using var model = new LlamaModel(profiler, config);
            progress?.Invoke($"{name}: {config.ParameterCount / 1e6:F1}M parameters, {model.Type}");
            Initialize(model, settings.Seed);
            int batch = settings.Batch ?? bench.Batch, seqLen = settings.SeqLen ?? bench.SeqLen;
            progress?.Invoke($"{name}: training B={batch} T={seqLen}");
            var training = run.Train(model, profiler, batch, seqLen);
            var generation = new List<GenerationResult>();
            foreach (int rows in settings.GenerationBatches)
            {
                progress?.Invoke($"{name}: generation batch {rows}");
                generation.Add(run.Generate(model, profiler, rows));
            }
            var shape = new ModelShape(config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads, config.KvHeads, config.HeadDim,
                config.IntermediateSize, config.VocabSize, config.ParameterCount);
            configs.Add(new ConfigResult(name, bench.Purpose, shape, model.Type.ToString(), training, generation));
        }
        string note = "medians over timed repeats, warm-up excluded; the host is shared and noisy: compare ratios within one report. "
            + device switch
            {
                DeviceKind.Cuda => "GPU peers (docs/design.md): H100/H200 about 990 TFLOP/s dense bf16; llm.c trains GPT-2 1.5B on H100 at about 46% MFU; "
                    + "TinyLlama (the 1b config) trains at 24k tok/s per A100-40G in bf16 (56% MFU).",
                DeviceKind.Emulated => "The emulated GPU runs the CUDA kernels on the CPU: its figures show that the code path works, not how fast a GPU is.",
                _ => "Peers on the bench config (docs/design.md): TorchSharp 837-990 train tok/s (166-196 GFLOP/s by this formula), 98-139 gen tok/s at batch 1, "
                    + "596-1018 at batch 32; llama2.c ~275 at batch 1; llm.c CPU ~132 train tok/s.",
            };
        string breakdown = cpu
            ? "host wall time per call: CPU ops have finished when they return"
            : "per-op times on the CUDA backend include one device synchronisation each (before the op starts its clock and before it stops it), "
              + "taken in separate profiled steps and runs in which the device idles between ops: their sum exceeds the unsynchronised time";
        return new BenchReport(kernels.Name, device.ToString().ToLowerInvariant(), kernels.Describe(), !cpu,
            cpu ? CpuKernels.Threads : null, load, note, settings.Workload, breakdown, sgemm, configs);
    }

    /// <summary>The bench config's GEMM shapes at B·T = 2048 rows (forward, input gradient, weight gradient), a decode batch of 32, and one row.</summary>
    private static readonly (long M, long N, long K, bool TA, bool TB, string Role)[] SgemmShapes =
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

    private static List<GemmResult> SgemmCeiling(IKernels kernels, bool quick)
    {
        var results = new List<GemmResult>();
        foreach (var (m, n, k, ta, tb, role) in SgemmShapes)
        {
            using var a = kernels.Allocate(m * k, DType.F32);
            using var b = kernels.Allocate(k * n, DType.F32);
            using var c = kernels.Allocate(m * n, DType.F32);
            Fill(kernels, a, 1);
            Fill(kernels, b, 2);
            double flops = 2.0 * m * n * k;
            // About 0.2 s of work per shape at the expected ~300 GFLOP/s (--short: a tenth, at least 2 runs).
            int repeats = (int)Math.Clamp((quick ? 6e9 : 6e10) / flops, quick ? 2 : 3, quick ? 20 : 200);
            for (int i = 0; i < (quick ? 1 : 2); i++) kernels.Gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n);
            double seconds = Median(Time(kernels, repeats, () =>
                kernels.Gemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n)));
            results.Add(new GemmResult($"{role}: {m}x{n}x{k} {(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}", m, n, k, ta, tb,
                Round(seconds * 1e3, 3), Round(flops / seconds / 1e9, 1)));
        }
        return results;
    }

    // Box-Muller (LlamaModel.InitializeRandom) over a billion parameters takes about half a minute on
    // one host thread; kernel times do not depend on the distribution, so a uniform one of the same
    // standard deviation, drawn in parallel from seeded chunks, stands in.
    private static void Initialize(LlamaModel model, int seed)
    {
        const int Chunk = 1 << 20;
        float bound = (float)(0.02 * Math.Sqrt(3));
        var entries = model.Layout.Entries;
        for (int e = 0; e < entries.Count; e++)
        {
            var entry = entries[e];
            var values = new float[entry.Count];
            if (entry.Shape.Length == 1) Array.Fill(values, 1f);
            else
            {
                int index = e;
                Parallel.For(0, (values.Length + Chunk - 1) / Chunk, chunk =>
                {
                    var random = new Random(unchecked(seed * 1_000_003 + index * 8191 + chunk));
                    int end = Math.Min(values.Length, (chunk + 1) * Chunk);
                    for (int i = chunk * Chunk; i < end; i++) values[i] = bound * (2 * random.NextSingle() - 1);
                });
            }
            model.Kernels.Upload(model.Parameter(entry.Name), values);
        }
        model.ParametersChanged();
    }

    /// <summary>One report's measurements on one backend.</summary>
    private sealed class Measurements(IKernels kernels, DeviceKind device, BenchSettings settings)
    {
        private readonly bool _cpu = device == DeviceKind.Cpu;

        public TrainingResult Train(LlamaModel model, ProfilingKernels profiler, int batchSize, int seqLen)
        {
            var config = model.Config;
            var random = new Random(settings.Seed);
            var batch = Enumerable.Range(0, batchSize)
                .Select(_ => new LmExample(Enumerable.Range(0, seqLen).Select(_ => random.Next(config.VocabSize)).ToArray()))
                .ToArray();
            var options = new PretrainOptions { Steps = 1000, WarmupSteps = 2, BatchTokens = batchSize * seqLen };
            using var training = TrainingRun.Create(model, new CausalLmObjective(model), batch, options, settings.Seed);
            int warmup = settings.WarmupSteps, timed = settings.TimedSteps;
            var (seconds, cpuPerStep, profiledSeconds, profiled) = Measure(profiler, warmup, timed, () => training.Step([batch]));
            double median = Median(seconds);
            long tokens = (long)batchSize * seqLen;
            double flopsPerToken = 6.0 * config.ParameterCount + 6.0 * config.NumHiddenLayers * seqLen * config.QueryDim;
            double gflops = flopsPerToken * tokens / median / 1e9;
            var (ops, gemms, accounted) = Breakdown(profiler, profiled, profiledSeconds);
            var ceiling = Ceiling(profiler, profiled);
            return new TrainingResult(batchSize, seqLen, warmup, timed, profiled, Round(median, 4), Round(seconds.Min(), 4),
                CpuOnly(cpuPerStep, 4), Round(tokens / median, 1), CpuOnly(tokens / cpuPerStep, 1), TrainFlopsFormula, flopsPerToken,
                Round(gflops, 1), ceiling, Round(100 * gflops / ceiling.Gflops, 1), Round(accounted, 4), ops, gemms,
                Attention(ops, config, batchSize, seqLen));
        }

        /// <summary>The attention kernels' time per step, from the breakdown, and their rate over causal attention's useful FLOPs.</summary>
        private static AttentionRate? Attention(IReadOnlyList<OpShare> ops, LlamaConfig config, int batch, int seqLen)
        {
            double Ms(string op) => ops.FirstOrDefault(o => o.Op == op)?.Ms ?? 0;
            double forwardMs = Ms("AttentionForward"), backwardMs = Ms("AttentionBackward");
            if (forwardMs + backwardMs <= 0) return null;
            double forward = 4.0 * batch * config.NumAttentionHeads * config.HeadDim * config.NumHiddenLayers * seqLen * (seqLen + 1.0) / 2;
            double flops = 3.5 * forward;
            return new AttentionRate(forwardMs, backwardMs, flops, Round(flops / ((forwardMs + backwardMs) / 1e3) / 1e9, 1));
        }

        public GenerationResult Generate(LlamaModel model, ProfilingKernels profiler, int batch)
        {
            var config = model.Config;
            int newTokens = settings.NewTokens;
            using var generator = new Generator(model, stopTokens: [], maxRows: batch);
            var requests = Enumerable.Range(0, batch)
                .Select(i => new GenerationRequest(i, [(i * 37 + 5) % config.VocabSize]))
                .ToArray();
            var options = new SamplingOptions { Temperature = 0, MaxTokens = newTokens };
            int warmup = 1, timed = settings.GenerationTimedRuns;
            var (seconds, cpuPerRun, profiledSeconds, profiled) = Measure(profiler, warmup, timed, () => generator.Generate(requests, options));
            double median = Median(seconds);
            long generated = (long)batch * newTokens;
            // The first token comes from the prefill; token j ≥ 1 is decoded with a context of j + 1 (the prompt token included).
            double flops = 0;
            for (int j = 0; j < newTokens; j++)
                flops += 2.0 * config.ParameterCount + 4.0 * config.NumHiddenLayers * (j + 1) * config.QueryDim;
            flops *= batch;
            double gflops = flops / median / 1e9;
            var (ops, gemms, _) = Breakdown(profiler, profiled, profiledSeconds);
            var ceiling = Ceiling(profiler, profiled);
            return new GenerationResult(batch, newTokens, warmup, timed, profiled, Round(median, 4), CpuOnly(cpuPerRun, 4),
                Round(generated / median, 1), CpuOnly(generated / cpuPerRun, 1), GenerateFlopsFormula, Round(gflops, 1),
                ceiling, Round(100 * gflops / ceiling.Gflops, 1), ops, gemms);
        }

        private double? CpuOnly(double value, int digits) => _cpu ? Round(value, digits) : null;

        // On the CPU the timed repeats are the profile. On an asynchronous backend an op's host time is
        // only its own with the device synchronised around it, which slows the whole step; so the
        // profile comes from as many further repeats, and the timed ones stay unsynchronised.
        /// <summary>
        /// Runs <paramref name="action"/> <paramref name="warmup"/> times untimed, then <paramref name="timed"/>
        /// times timed (wall seconds each, CPU seconds per run), then the profiled runs the breakdown reads.
        /// </summary>
        private (double[] Seconds, double CpuPerRun, double ProfiledSeconds, int ProfiledRuns) Measure(ProfilingKernels profiler, int warmup,
            int timed, Action action)
        {
            for (int i = 0; i < warmup; i++) action();
            profiler.Reset();
            double cpu = CpuSeconds();
            var seconds = Time(kernels, timed, action);
            double cpuPerRun = (CpuSeconds() - cpu) / timed;
            var (profiledSeconds, profiled) = Profile(profiler, timed, action, seconds);
            return (seconds, cpuPerRun, profiledSeconds, profiled);
        }

        private (double Seconds, int Runs) Profile(ProfilingKernels profiler, int runs, Action action, double[] timed)
        {
            if (_cpu) return (timed.Sum(), runs);
            profiler.Reset();
            profiler.SynchronizeEachOp = true;
            try
            {
                return (Time(kernels, runs, action).Sum(), runs);
            }
            finally
            {
                profiler.SynchronizeEachOp = false;
            }
        }

        private GemmCeiling Ceiling(ProfilingKernels profiler, int runs)
        {
            var shapes = new List<CeilingShape>();
            double flops = 0, seconds = 0;
            foreach (var (shape, time) in profiler.Gemms.OrderByDescending(g => g.Value.Flops).ToList())
            {
                double perCall = TimeGemm(shape);
                double calls = (double)time.Calls / runs;
                flops += calls * shape.Flops;
                seconds += calls * perCall;
                shapes.Add(new CeilingShape(shape.ToString(), Round(calls, 1), Round(perCall * 1e3, 4), Round(shape.Flops / perCall / 1e9, 1)));
            }
            string type = string.Join(",", profiler.Gemms.Keys.Select(s => s.A.ToString()).Distinct().Order());
            string gemm = device switch
            {
                DeviceKind.Cuda => "cuBLAS",
                DeviceKind.Emulated => "the emulator's GEMM shim (a CPU BLAS)",
                _ => "the CPU's BLAS (dot products for M <= 4)",
            };
            return new GemmCeiling(type, $"IKernels.Gemm ({gemm}) on this run's own GEMM shapes and types, each timed alone; "
                + "sum(calls*FLOPs) / sum(calls*time)", Round(flops / seconds / 1e9, 1), shapes);
        }

        // Seconds per call of one GEMM alone: samples of back-to-back calls, each ended by a device
        // synchronisation and sized from a first call to last a few milliseconds, so that launch and
        // synchronisation latency do not dominate small shapes.
        private double TimeGemm(GemmShape s)
        {
            using var a = kernels.Allocate(s.M * s.K, s.A);
            using var b = kernels.Allocate(s.K * s.N, s.B);
            using var c = kernels.Allocate(s.M * s.N, s.C);
            Fill(kernels, a, 1);
            Fill(kernels, b, 2);
            void Call() => kernels.Gemm(s.TransA, s.TransB, s.M, s.N, s.K, 1, a, s.TransA ? s.M : s.K, b, s.TransB ? s.K : s.N, 0, c, s.N);
            double first = Time(kernels, 1, Call)[0];
            int calls = (int)Math.Clamp((settings.Short ? 0.005 : 0.02) / Math.Max(first, 1e-7), 1, 1000);
            var samples = Time(kernels, settings.Short ? 3 : 5, () =>
            {
                for (int i = 0; i < calls; i++) Call();
            });
            return Median(samples) / calls;
        }
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
            .Select(g => new GemmShare(g.Key.ToString(), Round((double)g.Value.Calls / runs, 1), Round(g.Value.Seconds / runs * 1e3, 3),
                Round(g.Value.Flops / g.Value.Seconds / 1e9, 1)))
            .ToList();
        return (ops, gemms, total / runs);
    }

    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    // A repeated block of random values: GEMM times do not depend on them, but zeros could flatter
    // a GPU (less switching, higher clocks), and drawing fresh values for a billion-element matrix
    // would cost more than the measurement.
    private static void Fill(IKernels kernels, Tensor t, int seed)
    {
        var random = new Random(seed);
        var block = new float[4099];
        for (int i = 0; i < block.Length; i++) block[i] = (float)(random.NextDouble() - 0.5);
        var values = new float[t.Length];
        for (long i = 0; i < values.Length; i += block.Length)
            block.AsSpan(0, (int)Math.Min(block.Length, values.Length - i)).CopyTo(values.AsSpan((int)i));
        kernels.Upload(t, values);
    }

    // Each repeat's wall time from a synchronised start until the device has finished its work.
    private static double[] Time(IKernels kernels, int repeats, Action action)
    {
        kernels.Synchronize();
        var seconds = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            kernels.Synchronize();
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
