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
        var report = BenchRunner.Run(kernels, settings, message => context.Error.WriteLine($"fsr bench: {message}"));
        string json = report.ToJson();
        context.Out.WriteLine(json);
        if (Output is not null) File.WriteAllText(Output, json + "\n");
        return 0;
    }
}
