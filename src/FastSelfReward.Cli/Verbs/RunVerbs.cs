using CommandLine;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Cli;

/// <summary>
/// The options of every verb that works on a run folder: the folder, and the configuration it was
/// (or is to be) started with. The first invocation writes run.json; every later one must agree with
/// it, so a changed setting is an error rather than a silently different run.
/// </summary>
public abstract class RunOptions : CommonOptions
{
    [Option("run", Required = true, HelpText = "Run folder (created on first use).")]
    public string Folder { get; set; } = "";

    [Option("config", HelpText = "run.json to start the run with; optional once the run folder has one.")]
    public string? Config { get; set; }

    [Option("replicate-optimizer", HelpText = "Under mpirun, keep the whole optimizer state on every rank (plain data parallel) instead of each rank its 1/N range of the AdamW moments (ZeRO-1, the default); the weights are the same, bit for bit.")]
    public bool ReplicateOptimizer { get; set; }

    [Option("accept-changed-inputs", HelpText = "Go on although an input (IFT, EFT, base model, judge template, exclusions, prompt model, selection prompts or judge) has other contents than when the run started; the new contents are recorded.")]
    public bool AcceptChangedInputs { get; set; }

    /// <summary>Opens the run (checking or writing run.json), then runs <paramref name="work"/>.</summary>
    protected int WithRun(VerbContext context, Action<SelfRewardingRun, RunContext> work)
    {
        if (Config is null && !RunFolder.IsStarted(Folder))
            throw new UsageException($"{Path.GetFullPath(Folder)} has no {RunFolder.ConfigFileName}; pass --config to start a run there");
        RunConfig? config = Config is null ? null : RunConfig.Load(Config);
        using var kernels = OpenBackend();
        using var progress = context.CreateProgress();
        // Under mpirun rank 0 logs and writes; the others train beside it in silence.
        var log = context.World.IsRoot ? context.Error : TextWriter.Null;
        using var run = RunFolder.Open(Folder, config, Config is null ? "" : Path.GetFullPath(Config), kernels, progress, log, AcceptChangedInputs, context.World);
        run.ShardOptimizer = !ReplicateOptimizer;
        work(new SelfRewardingRun(run), run);
        return 0;
    }
}

[Verb("iterate", HelpText = "Run the whole method: SFT baseline, EFT, M1, then (prompts, candidates, judgments, pairs, DPO) per iteration; resumes a killed run.")]
public sealed class IterateOptions : RunOptions
{
    /// <summary>Under mpirun the training stages run data-parallel; rank 0 runs the others while the rest wait.</summary>
    public override bool RunsOnRanks => true;

    [Option("redo", HelpText = "Run this stage again (sft, eft, m1, iterT/prompts, iterT/candidates, iterT/judgments, iterT/pairs, iterT/dpo), and every stage after it: what they wrote is deleted first.")]
    public string? Redo { get; set; }

    public override int Run(VerbContext context)
    {
        StageId? redo;
        try
        {
            redo = Redo is null ? null : StageId.Parse(Redo);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--redo: {e.Message}");
        }
        return WithRun(context, (stages, _) =>
        {
            if (redo is StageId stage) stages.Redo(stage);
            stages.RunAll(context.Interrupt);
        });
    }
}

/// <summary>A verb that runs one stage; the iteration defaults to the first whose stage is unfinished.</summary>
public abstract class StageOptions : RunOptions
{
    [Option("iteration", HelpText = "Iteration t (1-based) for per-iteration stages; default: the first unfinished.")]
    public int? Iteration { get; set; }

    protected abstract StageKind Kind { get; }

    public override int Run(VerbContext context) => WithRun(context, (stages, run) =>
    {
        var stage = Kind < StageKind.Prompts ? new StageId(Kind) : new StageId(Kind, IterationFor(run));
        stages.RunStage(stage, context.Interrupt);
    });

    private int IterationFor(RunContext run)
    {
        if (Iteration is int t)
        {
            if (t < 1 || t > run.Config.Iterations) throw new UsageException($"--iteration must lie in 1..{run.Config.Iterations}, got {t}");
            return t;
        }
        for (int i = 1; i <= run.Config.Iterations; i++)
            if (!run.Manifest.IsDone(new StageId(Kind, i).Name)) return i;
        return run.Config.Iterations;
    }
}

[Verb("sft", HelpText = "Train the SFT baseline (M0 on IFT), or M1 with --m1 (M0 on IFT and the judge examples).")]
public sealed class SftStageOptions : StageOptions
{
    [Option("m1", HelpText = "Train M1 instead of the SFT baseline.")]
    public bool M1 { get; set; }

    protected override StageKind Kind => M1 ? StageKind.M1 : StageKind.Sft;

    public override bool RunsOnRanks => true;
}

[Verb("eft", HelpText = "Build the judge training set (gold judgments, or the SFT baseline's filtered by rank agreement).")]
public sealed class EftStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Eft;
}

[Verb("prompts", HelpText = "Mt writes new prompts k-shot from the IFT prompts, filtered (length, duplicates, ROUGE-L, exclusions).")]
public sealed class PromptsStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Prompts;
}

[Verb("sample", HelpText = "Mt answers each prompt N times (candidates.jsonl).")]
public sealed class SampleStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Candidates;
}

[Verb("judge", HelpText = "Mt judges each candidate k times with the judge prompt (judgments.jsonl).")]
public sealed class JudgeStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Judgments;
}

[Verb("pairs", HelpText = "Best against worst mean score per prompt (pairs.jsonl).")]
public sealed class PairsStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Pairs;
}

[Verb("dpo", HelpText = "DPO from Mt against frozen Mt on the iteration's pairs, giving M(t+1).")]
public sealed class DpoStageOptions : StageOptions
{
    protected override StageKind Kind => StageKind.Dpo;

    public override bool RunsOnRanks => true;
}
