using System.Diagnostics;
using System.Globalization;
using CommandLine;
using FastSelfReward.Demo;

namespace FastSelfReward.Cli;

[Verb("demo", HelpText = "The paper's experiment in miniature: world data, tokenizer, M0, SFT baseline, M1, M2, M3, then the oracle's evaluation and report; resumes a killed demo.")]
public sealed class DemoOptions : CommonOptions
{
    [Option("preset", Default = "default", HelpText = "default (at most 15 minutes on 2 cores) or quick (at most 3 minutes).")]
    public string Preset { get; set; } = "default";

    [Option("out", Default = "runs/demo", HelpText = "Demo folder (data, tokenizer, models, run, report).")]
    public string Out { get; set; } = "runs/demo";

    public override int Run(VerbContext context)
    {
        if (Preset is not ("default" or "quick")) throw new UsageException($"--preset must be default or quick, got '{Preset}'");
        var preset = DemoPreset.Named(Preset);
        var wall = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        using var kernels = OpenBackend();
        using var progress = context.CreateProgress();
        var pipeline = new DemoPipeline(preset, Out, kernels, progress, context.Error);
        var report = pipeline.Run(context.Interrupt);
        context.Out.Write(report.ToMarkdown());
        context.Out.WriteLine();
        context.Out.WriteLine($"report: {Path.Combine(pipeline.Folder, "report.md")} (and report.json, plots/)");
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"demo: this invocation took {wall.Elapsed.TotalSeconds:F0} s wall, {cpuSeconds:F0} s CPU (user+sys of this process)"));
        return 0;
    }
}
