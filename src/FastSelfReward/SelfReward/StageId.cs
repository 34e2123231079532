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
    public string Step => Kind.ToString().ToLowerInvariant();

    /// <summary><c>sft</c>, <c>eft</c>, <c>m1</c>, or <c>iterT/step</c>.</summary>
    public string Name => PerIteration ? $"{Folder}/{Step}" : Step;

    /// <summary>The folder of an iteration's artifacts, <c>iterT</c>.</summary>
    public string Folder => $"iter{Iteration}";

    /// <summary>The model an iteration starts from and generates with, <c>mT</c>.</summary>
    public string Model => $"m{Iteration}";

    public override string ToString() => Name;

    /// <summary>Every stage of a run of <paramref name="iterations"/> iterations, in order.</summary>
    public static IReadOnlyList<StageId> All(int iterations)
    {
        var stages = new List<StageId> { new(StageKind.Sft), new(StageKind.Eft), new(StageKind.M1) };
        for (int t = 1; t <= iterations; t++)
            for (var kind = StageKind.Prompts; kind <= StageKind.Dpo; kind++) stages.Add(new StageId(kind, t));
        return stages;
    }
}
