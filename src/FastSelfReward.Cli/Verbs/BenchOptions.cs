using CommandLine;
using FastSelfReward.Benchmarks;

namespace FastSelfReward.Cli;

[Verb("bench", HelpText = "Measure training and generation throughput, the per-op breakdown and the GEMM ceiling on the --device; prints JSON.")]
public sealed class BenchOptions : CommonOptions
{
    [Option("short", HelpText = "Few repeats and 32 new tokens (8 on the emulated GPU): tiny on the CPU, bench and 1b on a GPU, unless --config says otherwise.")]
    public bool Short { get; set; }

    [Option("config", Separator = ',', HelpText = "Configs to run: tiny, bench, 1b (default: tiny and bench on the CPU, tiny alone with --short; bench and 1b on cuda; tiny on emulated).")]
    public IEnumerable<string>? Configs { get; set; }

    [Option("output", HelpText = "Also write the JSON to this file.")]
    public string? Output { get; set; }

    [Option("replicate-optimizer", HelpText = "Under mpirun, time plain data parallel instead of ZeRO-1 (each rank 1/N of the moments).")]
    public bool ReplicateOptimizer { get; set; }

    /// <summary>Under mpirun the data-parallel scaling of training is measured (one rank alone, then all); rank 0 prints it.</summary>
    public override bool RunsOnRanks => true;

    /// <summary>Runs the benchmark; progress goes to standard error so standard output is exactly one JSON document.</summary>
    public override int Run(VerbContext context)
    {
        var configs = Configs?.ToList();
        foreach (var name in configs ?? [])
            if (!BenchRunner.Configs.ContainsKey(name))
                throw new UsageException($"--config: unknown config '{name}' (known: {string.Join(", ", BenchRunner.Configs.Keys)})");
        using var kernels = OpenBackend();
        if (BackendNote is not null) context.Error.WriteLine($"fsr bench: {BackendNote}");
        var settings = BenchSettings.For(BenchRunner.DeviceOf(kernels), Short, configs);
        var world = context.World;
        string json = world.Size > 1
            ? ScalingBench.Run(kernels, world, settings, !ReplicateOptimizer, world.IsRoot ? message => context.Error.WriteLine($"fsr bench: {message}") : null).ToJson()
            : BenchRunner.Run(kernels, settings, message => context.Error.WriteLine($"fsr bench: {message}")).ToJson();
        if (!world.IsRoot) return 0;
        context.Out.WriteLine(json);
        if (Output is not null) File.WriteAllText(Output, json + "\n");
        return 0;
    }
}
