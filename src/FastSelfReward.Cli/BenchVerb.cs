using CommandLine;
using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;

namespace FastSelfReward.Cli;

[Verb("bench", HelpText = "Measure training and generation throughput, the per-op breakdown and the BLAS ceiling; prints JSON.")]
public sealed class BenchOptions
{
    [Option("short", HelpText = "Few repeats and 32 new tokens, tiny config only unless --config says otherwise: well under a minute.")]
    public bool Short { get; set; }

    [Option("config", Separator = ',', HelpText = "Configs to run: tiny, bench (default: both; with --short: tiny).")]
    public IEnumerable<string>? Configs { get; set; }

    [Option("threads", HelpText = "OpenMP threads (default: every core).")]
    public int? Threads { get; set; }

    [Option("output", HelpText = "Also write the JSON to this file.")]
    public string? Output { get; set; }

    /// <summary>Runs the benchmark; progress goes to stderr so stdout is exactly one JSON document.</summary>
    public int Run()
    {
        if (Threads is { } threads) CpuKernels.Threads = threads;
        var configs = Configs?.ToList() is { Count: > 0 } named ? named : Short ? ["tiny"] : ["tiny", "bench"];
        using var kernels = new CpuKernels();
        var report = BenchRunner.Run(kernels, new BenchSettings { Configs = configs, Short = Short },
            message => Console.Error.WriteLine($"fsr bench: {message}"));
        string json = report.ToJson();
        Console.WriteLine(json);
        if (Output is not null) File.WriteAllText(Output, json + "\n");
        return 0;
    }
}
