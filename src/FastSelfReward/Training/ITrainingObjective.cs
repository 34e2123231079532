namespace FastSelfReward.Training;

/// <summary>
/// What differs between pretraining, SFT and DPO: the examples, the loss of a micro-batch and its
/// gradient, and what is measured. Everything else (steps, accumulation, schedule, optimizer,
/// evaluation, checkpoints, metrics, progress) is <see cref="TrainingRun{TExample,TMetrics}"/>'s.
/// </summary>
/// <remarks>
/// A step's loss is L = (1/N) Σ ℓ(x) over its examples x, N = Σ <see cref="LossWeight"/>(x) over
/// the whole step (every micro-batch, and with data parallelism every rank), so a step's gradient
/// does not depend on how it is cut into micro-batches.
/// </remarks>
/// <typeparam name="TExample">One training example (a token sequence, a preference pair).</typeparam>
/// <typeparam name="TMetrics">The sums a micro-batch's metrics are made of.</typeparam>
public interface ITrainingObjective<in TExample, TMetrics> where TMetrics : class, ITrainingMetrics<TMetrics>
{
    /// <summary>Names the objective in checkpoint fingerprints.</summary>
    string Name { get; }

    /// <summary>Tokens the example occupies in a packed forward pass (the micro-batch budget's unit).</summary>
    int Tokens(TExample example);

    /// <summary>The example's share of the step's normaliser N: its loss tokens, or 1 for a pair.</summary>
    long LossWeight(TExample example);

    /// <summary>Throws <see cref="ArgumentException"/>, naming example <paramref name="index"/>, when the model cannot train on it.</summary>
    void Validate(TExample example, int index);

    /// <summary>Adds everything that defines the example (tokens, targets, reference values) to a checkpoint fingerprint.</summary>
    void Describe(TExample example, Fingerprint fingerprint);

    /// <summary>
    /// Adds ∂/∂θ of (1/<paramref name="normalizer"/>) Σ ℓ(x) over the micro-batch to the model's
    /// gradients (not zeroed first) and returns the micro-batch's metric sums.
    /// </summary>
    TMetrics AccumulateGradients(IReadOnlyList<TExample> microBatch, double normalizer);

    /// <summary>The micro-batch's metric sums under the current weights, by inference passes only.</summary>
    TMetrics Measure(IReadOnlyList<TExample> microBatch);
}

/// <summary>
/// Metrics kept as sums over examples, so that micro-batches (and ranks) add up exactly; the means
/// are read from the total.
/// </summary>
public interface ITrainingMetrics<TSelf> where TSelf : class, ITrainingMetrics<TSelf>
{
    /// <summary>Nothing measured.</summary>
    static abstract TSelf Zero { get; }

    static abstract TSelf operator +(TSelf a, TSelf b);

    /// <summary>The mean loss (NaN when nothing was measured).</summary>
    double Loss { get; }

    /// <summary>The means under the names they are logged with (TRL's: <c>loss</c>, <c>rewards/margins</c>, ...).</summary>
    IEnumerable<KeyValuePair<string, double>> Named();

    /// <summary>The sums as numbers (counts are exact in a double up to 2^53), for adding across ranks.</summary>
    double[] Sums();

    /// <summary>The metrics whose <see cref="Sums"/> are <paramref name="sums"/>.</summary>
    static abstract TSelf FromSums(ReadOnlySpan<double> sums);
}
