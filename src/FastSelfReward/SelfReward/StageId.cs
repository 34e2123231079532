namespace FastSelfReward.SelfReward;

/// <summary>What a stage does; the first three run once, the rest once per iteration, in this order.</summary>
public enum StageKind
{
    /// <summary>M0 trained on IFT: the SFT baseline.</summary>
    Sft,
    /// <summary>The judge training set.</summary>
    Eft,
    /// <summary>M0 trained on IFT and EFT.</summary>
    M1,
    /// <summary>Mt writes new prompts.</summary>
    Prompts,
    /// <summary>Mt answers each prompt N times.</summary>
    Candidates,
    /// <summary>Mt judges each answer k times.</summary>
    Judgments,
    /// <summary>Best against worst mean score.</summary>
    Pairs,
    /// <summary>DPO from Mt against frozen Mt: M(t+1).</summary>
    Dpo,
}

/// <summary>
/// One stage of a run: a setup stage (<see cref="StageKind.Sft"/>, <see cref="StageKind.Eft"/>,
/// <see cref="StageKind.M1"/>, iteration 0) or a step of iteration t ≥ 1. Its <see cref="Name"/>
/// (<c>sft</c>, <c>iter2/judgments</c>) keys the manifest, the metrics, the stage's random numbers
/// and its NVTX range.
/// </summary>
public readonly record struct StageId
{
    public StageId(StageKind kind, int iteration = 0)
    {
        bool perIteration = kind >= StageKind.Prompts;
        if (perIteration ? iteration < 1 : iteration != 0)
            throw new ArgumentOutOfRangeException(nameof(iteration), iteration, perIteration ? $"{kind} belongs to an iteration t ≥ 1" : $"{kind} runs once, outside the iterations");
        Kind = kind;
        Iteration = iteration;
    }

    public StageKind Kind { get; }

    /// <summary>The iteration t (1-based) of a per-iteration stage; 0 for a setup stage.</summary>
    public int Iteration { get; }

    /// <summary>Whether the stage is a step of an iteration.</summary>
    public bool PerIteration => Kind >= StageKind.Prompts;

    /// <summary>The step's own name: <c>sft</c>, <c>eft</c>, <c>m1</c>, <c>prompts</c>, <c>candidates</c>, <c>judgments</c>, <c>pairs</c>, <c>dpo</c>.</summary>
    public string Step => StepOf(Kind);

    private static string StepOf(StageKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary><c>sft</c>, <c>eft</c>, <c>m1</c>, or <c>iterT/step</c>.</summary>
    public string Name => PerIteration ? $"{Folder}/{Step}" : Step;

    /// <summary>The folder of an iteration's artifacts, <c>iterT</c>.</summary>
    public string Folder => $"iter{Iteration}";

    /// <summary>The model an iteration starts from and generates with, <c>mT</c>.</summary>
    public string Model => $"m{Iteration}";

    public override string ToString() => Name;

    /// <summary>The stage a name such as <c>sft</c> or <c>iter2/judgments</c> names.</summary>
    /// <exception cref="ArgumentException">The name is no stage's; the message lists the forms.</exception>
    public static StageId Parse(string name)
    {
        string[] parts = name.Split('/');
        if (Enum.GetValues<StageKind>().Where(k => StepOf(k) == parts[^1]).ToArray() is [var kind])
        {
            if (parts.Length == 1 && kind < StageKind.Prompts) return new StageId(kind);
            if (parts.Length == 2 && kind >= StageKind.Prompts && parts[0].StartsWith("iter", StringComparison.Ordinal)
                && int.TryParse(parts[0].AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int t) && t >= 1)
                return new StageId(kind, t);
        }
        throw new ArgumentException($"'{name}' is not a stage: sft, eft, m1, or iterT/prompts, iterT/candidates, iterT/judgments, iterT/pairs, iterT/dpo (T from 1)");
    }

    /// <summary>The files and folders the stage writes, relative to the run folder: what redoing it removes.</summary>
    public IReadOnlyList<string> Outputs => Kind switch
    {
        StageKind.Sft => [Path.Combine("models", "sft"), Path.Combine("train", "sft")],
        StageKind.Eft => ["eft"],
        StageKind.M1 => [Path.Combine("models", "m1"), Path.Combine("train", "m1")],
        StageKind.Prompts => [Path.Combine(Folder, "prompts.jsonl")],
        StageKind.Candidates => [Path.Combine(Folder, "candidates.jsonl")],
        StageKind.Judgments => [Path.Combine(Folder, "judgments.jsonl")],
        StageKind.Pairs => [Path.Combine(Folder, "pairs.jsonl")],
        _ => [Path.Combine(Folder, "reference_logps.jsonl"), Path.Combine("models", $"m{Iteration + 1}"), Path.Combine("train", $"m{Iteration + 1}")],
    };

    /// <summary>Every stage of a run of <paramref name="iterations"/> iterations, in order.</summary>
    public static IReadOnlyList<StageId> All(int iterations)
    {
        var stages = new List<StageId> { new(StageKind.Sft), new(StageKind.Eft), new(StageKind.M1) };
        for (int t = 1; t <= iterations; t++)
            for (var kind = StageKind.Prompts; kind <= StageKind.Dpo; kind++) stages.Add(new StageId(kind, t));
        return stages;
    }
}
