using CommandLine;
using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;

namespace FastSelfReward.Cli;

[Verb("bench", HelpText = "Measure training and generation throughput, the per-op breakdown and the BLAS ceiling; prints JSON.")]
public sealed class BenchOptions : CommonOptions
{
    [Option("short", HelpText = "Few repeats and 32 new tokens, tiny config only unless --config says otherwise: well under a minute.")]
    public bool Short { get; set; }

    [Option("config", Separator = ',', HelpText = "Configs to run: tiny, bench (default: both; with --short: tiny).")]
    public IEnumerable<string>? Configs { get; set; }

    [Option("output", HelpText = "Also write the JSON to this file.")]
    public string? Output { get; set; }

    /// <summary>Runs the benchmark; progress goes to standard error so standard output is exactly one JSON document.</summary>
    public override int Run(VerbContext context)
    {
        var configs = Configs?.ToList() is { Count: > 0 } named ? named : Short ? ["tiny"] : ["tiny", "bench"];
        foreach (var name in configs)
            if (!BenchRunner.Configs.ContainsKey(name))
                throw new UsageException($"--config: unknown config '{name}' (known: {string.Join(", ", BenchRunner.Configs.Keys)})");
        using var backend = OpenBackend();
        if (backend is not CpuKernels kernels) throw new UsageException("bench measures the CPU backend only");
        var report = BenchRunner.Run(kernels, new BenchSettings { Configs = configs, Short = Short },
            message => context.Error.WriteLine($"fsr bench: {message}"));
        string json = report.ToJson();
        context.Out.WriteLine(json);
        if (Output is not null) File.WriteAllText(Output, json + "\n");
        return 0;
    }
}
