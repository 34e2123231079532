using FastSelfReward.Compute;

namespace FastSelfReward.Training;

/// <summary>
/// What every <see cref="TrainingRun{TExample,TMetrics}"/> reads, whatever its objective: length,
/// learning-rate schedule, AdamW, micro-batch budget, held-out evaluation, checkpoint and log
/// cadence. Each kind of training derives its own record with its own defaults
/// (<see cref="PretrainOptions"/>, <see cref="SftOptions"/>, <see cref="DpoOptions"/>); the SFT and
/// DPO records are the <c>sft</c> and <c>dpo</c> sections of run.json, under their snake_case names.
/// </summary>
public abstract record TrainingOptions
{
    /// <summary>Passes over the training examples.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Peak learning rate, reached after warmup.</summary>
    public double LearningRate { get; init; }

    /// <summary>Learning rate at the end of the cosine decay; a tenth of the peak when null.</summary>
    public double? MinLearningRate { get; init; }

    /// <summary>Linear warmup steps; a tenth of the run, at most 100, when null.</summary>
    public int? WarmupSteps { get; init; }

    /// <summary>AdamW's decoupled weight decay (matrices only, never norm gains).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Global gradient-norm clip; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>
    /// Most tokens one forward/backward pass packs; a step is split into as many micro-batches as it
    /// needs (the gradient is the same). Null: each step in one pass.
    /// </summary>
    public int? MicroBatchTokens { get; init; }

    /// <summary>Evaluate on the held-out examples every this many steps (0: only at the end).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Save the training state every this many steps, and always after the last (0: only after the last).</summary>
    public int CheckpointEvery { get; init; } = 50;

    /// <summary>A metrics record every this many steps (the last step is always logged).</summary>
    public int LogEvery { get; init; } = 1;

    /// <summary>How the training examples are cut into steps and micro-batches.</summary>
    internal abstract StepShape Shape { get; }

    /// <summary>The share of the examples held out for evaluation, in [0, 1).</summary>
    internal virtual double HeldOutShare => 0;

    /// <summary>Optimizer steps of the run when fixed; null: <see cref="Epochs"/> whole passes.</summary>
    internal virtual int? StepLimit => null;

    internal AdamWOptions AdamW => new() { WeightDecay = WeightDecay, MaxGradNorm = MaxGradNorm };

    /// <summary>The options with the settings that do not change what is trained (cadences) reset: what a checkpoint's fingerprint covers.</summary>
    internal TrainingOptions WithoutCadences() => this with { EvalEvery = 0, CheckpointEvery = 0, LogEvery = 1 };

    /// <summary>Every value out of range: the field as in run.json and what is wrong with it.</summary>
    public IEnumerable<(string Field, string Message)> Problems() =>
        Rules().Where(r => !r.Ok).Select(r => (r.Field, $"{r.Rule}, got {Format(r.Value)}"));

    /// <summary>Throws <see cref="ArgumentException"/> naming the field (as in run.json) when a value is out of range.</summary>
    public TrainingOptions Validate()
    {
        foreach (var (field, message) in Problems()) throw new ArgumentException($"{field} {message}");
        return this;
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        IFormattable number => number.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Each range rule: whether it holds, the run.json field, the rule in words, the value.</summary>
    protected virtual IEnumerable<(bool Ok, string Field, string Rule, object? Value)> Rules()
    {
        yield return (Epochs >= 1, "epochs", "must be at least 1", Epochs);
        yield return (LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", "must be positive", LearningRate);
        // Compared with learning_rate only when that is valid, so one mistake is reported once.
        yield return (MinLearningRate is null || (MinLearningRate >= 0 && !(MinLearningRate > LearningRate && LearningRate > 0)), "min_learning_rate",
            "must lie in [0, learning_rate]", MinLearningRate);
        yield return (WarmupSteps is null or >= 0, "warmup_steps", "must be ≥ 0", WarmupSteps);
        yield return (WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight_decay", "must be ≥ 0", WeightDecay);
        yield return (MaxGradNorm >= 0 && double.IsFinite(MaxGradNorm), "max_grad_norm", "must be ≥ 0 (0: no clipping)", MaxGradNorm);
        yield return (MicroBatchTokens is null or > 0, "micro_batch_tokens", "must be positive", MicroBatchTokens);
        yield return (EvalEvery >= 0, "eval_every", "must be ≥ 0", EvalEvery);
        yield return (CheckpointEvery >= 0, "checkpoint_every", "must be ≥ 0", CheckpointEvery);
        yield return (LogEvery >= 1, "log_every", "must be at least 1", LogEvery);
    }
}

/// <summary>
/// Causal-LM pretraining: steps of a token budget (the data cycled when <see cref="Steps"/> is
/// given), learning rate 3e-4 with warmup and cosine decay to a tenth, weight decay 0.1.
/// </summary>
public sealed record PretrainOptions : TrainingOptions
{
    public const double DefaultLearningRate = 3e-4, DefaultWeightDecay = 0.1;
    public const int DefaultBatchTokens = 8192;

    public PretrainOptions()
    {
        LearningRate = DefaultLearningRate;
        WeightDecay = DefaultWeightDecay;
    }

    /// <summary>Optimizer steps; when null, <see cref="TrainingOptions.Epochs"/> whole passes over the data.</summary>
    public int? Steps { get; init; }

    /// <summary>Tokens per optimizer step (at most; examples are not split across steps).</summary>
    public int BatchTokens { get; init; } = DefaultBatchTokens;

    internal override StepShape Shape => new TokenSteps(BatchTokens, MicroBatchTokens);
    internal override int? StepLimit => Steps;

    protected override IEnumerable<(bool Ok, string Field, string Rule, object? Value)> Rules() => base.Rules().Concat(
    [
        (Steps is null or > 0, "steps", "must be positive", Steps),
        (BatchTokens > 0, "batch_tokens", "must be positive", BatchTokens),
    ]);
}

/// <summary>
/// Supervised instruction tuning (the SFT baseline and M1). Defaults follow the paper: learning rate
/// 5.5e-6 decaying by cosine to 1.1e-6, batch 16.
/// </summary>
public sealed record SftOptions : TrainingOptions
{
    public SftOptions()
    {
        LearningRate = 5.5e-6;
        MinLearningRate = 1.1e-6;
        WarmupSteps = 0;
        MicroBatchTokens = 4096;
    }

    /// <summary>Examples per optimizer step (the batch size).</summary>
    public int ExamplesPerStep { get; init; } = 16;

    /// <summary>Steps whose examples are sorted by length together (1: each step alone).</summary>
    public int BucketSteps { get; init; } = 8;

    /// <summary>Share of the examples held out for the eval loss.</summary>
    public double EvalFraction { get; init; } = 0.05;

    internal override StepShape Shape => new ExampleSteps(ExamplesPerStep, MicroBatchTokens, BucketSteps);

    internal override double HeldOutShare => EvalFraction;

    protected override IEnumerable<(bool Ok, string Field, string Rule, object? Value)> Rules() => base.Rules().Concat(
    [
        (ExamplesPerStep >= 1, "examples_per_step", "must be at least 1", ExamplesPerStep),
        (BucketSteps >= 1, "bucket_steps", "must be at least 1", BucketSteps),
        (EvalFraction is >= 0 and < 1, "eval_fraction", "must lie in [0, 1)", EvalFraction),
    ]);
}

/// <summary>
/// DPO of each iteration. Defaults follow the paper: β 0.1, learning rate 1e-6 decaying to 1e-7,
/// batch 16.
/// </summary>
public sealed record DpoOptions : TrainingOptions
{
    public DpoOptions()
    {
        LearningRate = 1e-6;
        MinLearningRate = 1e-7;
        WarmupSteps = 0;
        MicroBatchTokens = 4096;
    }

    /// <summary>Pairs per optimizer step (the batch size).</summary>
    public int PairsPerStep { get; init; } = 16;

    /// <summary>β: the strength of the implicit KL penalty towards the reference.</summary>
    public double Beta { get; init; } = 0.1;

    public DpoLossKind Loss { get; init; } = DpoLossKind.Sigmoid;

    /// <summary>ε: the assumed label-flip probability of the sigmoid and robust losses, in [0, 0.5).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>
    /// Score an answer by its mean token log-prob instead of the sum (as lucidrains' implementation
    /// does; TRL's ipo loss always does).
    /// </summary>
    public bool LengthNormalize { get; init; }

    /// <summary>Share of the pairs held out for evaluation.</summary>
    public double HeldOutFraction { get; init; } = 0.05;

    internal override StepShape Shape => new ExampleSteps(PairsPerStep, MicroBatchTokens, BucketSteps: null);

    internal override double HeldOutShare => HeldOutFraction;

    protected override IEnumerable<(bool Ok, string Field, string Rule, object? Value)> Rules() => base.Rules().Concat(
    [
        (PairsPerStep >= 1, "pairs_per_step", "must be at least 1", PairsPerStep),
        (Beta > 0 && double.IsFinite(Beta), "beta", "must be positive", Beta),
        (LabelSmoothing is >= 0 and < 0.5, "label_smoothing", "must lie in [0, 0.5)", LabelSmoothing),
        (HeldOutFraction is >= 0 and < 1, "held_out_fraction", "must lie in [0, 1)", HeldOutFraction),
    ]);
}
