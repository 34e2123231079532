namespace FastSelfReward.World;

/// <summary>What <see cref="WorldData.Write"/> produces; the defaults follow the paper's data sizes.</summary>
public sealed record WorldDataOptions
{
    /// <summary>Seeds every file; the same seed and sizes give byte-identical files.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Held-out evaluation prompts (the paper evaluates head to head on 256).</summary>
    public int EvalPrompts { get; init; } = 256;

    /// <summary>Documents of the pretraining corpus for M0.</summary>
    public int CorpusDocuments { get; init; } = 12_000;

    /// <summary>Instruction fine-tuning examples (the paper's 3,200 Open Assistant answers).</summary>
    public int IftExamples { get; init; } = 3_200;

    /// <summary>
    /// Share of IFT answers that are right but not ideal (the bare answer, or chatter around it), as
    /// people's best answers are: it leaves the self-rewarding loop something to improve. 0 makes every
    /// IFT answer perfect.
    /// </summary>
    public double ImperfectIftFraction { get; init; } = 0.2;

    /// <summary>EFT training prompts; each carries <see cref="ResponsesPerEftPrompt"/> ranked responses.</summary>
    public int EftTrainPrompts { get; init; } = 450;

    /// <summary>EFT evaluation prompts, disjoint from the training ones.</summary>
    public int EftEvalPrompts { get; init; } = 135;

    /// <summary>
    /// Every ranked EFT set holds the perfect answer and the same answer with chatter around it (the
    /// rest of its qualities drawn at random), so each set teaches the rubric's last criterion by a
    /// minimal contrast. A policy whose answers differ mostly in chatter needs a judge that sees it, or
    /// DPO rewards the chatter.
    /// </summary>
    public bool EftContrastsExtraText { get; init; }

    /// <summary>Responses per EFT prompt, each of a different quality (2 to 6).</summary>
    public int ResponsesPerEftPrompt { get; init; } = 4;
}
