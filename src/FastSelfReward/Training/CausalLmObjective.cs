using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>Sums behind a causal-LM step's metrics.</summary>
/// <param name="NegativeLogProb">-Σ log p(x_t | x_&lt;t) over the loss tokens.</param>
/// <param name="LossTokens">Tokens that counted in the loss.</param>
public sealed record LmMetrics(double NegativeLogProb, long LossTokens) : ITrainingMetrics<LmMetrics>
{
    public static LmMetrics Zero { get; } = new(0, 0);

    public static LmMetrics operator +(LmMetrics a, LmMetrics b) => new(a.NegativeLogProb + b.NegativeLogProb, a.LossTokens + b.LossTokens);

    /// <summary>Mean cross-entropy per loss token.</summary>
    public double Loss => LossTokens == 0 ? double.NaN : NegativeLogProb / LossTokens;

    public IEnumerable<KeyValuePair<string, double>> Named() => [KeyValuePair.Create("loss", Loss)];

    public double[] Sums() => [NegativeLogProb, LossTokens];

    public static LmMetrics FromSums(ReadOnlySpan<double> sums) => new(sums[0], (long)sums[1]);
}

/// <summary>
/// Causal language modelling with a loss mask, for pretraining (every token a target) and
/// instruction tuning (the answer's tokens only):
/// <code>L = -(1/N) Σ_{sequences} Σ_{t ∈ targets} log p(x_t | x_&lt;t),   N = target tokens of the whole step,</code>
/// so each target row's weight in <see cref="LlamaModel.Backward"/> is -1/N.
/// </summary>
public sealed class CausalLmObjective(LlamaModel model) : ITrainingObjective<LmExample, LmMetrics>
{
    public string Name => "causal-lm";

    public int Tokens(LmExample example) => example.Tokens.Length;

    public long LossWeight(LmExample example) => example.LossTokens;

    public void Validate(LmExample example, int index)
    {
        try
        {
            example.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"example {index}: {e.Message}", e);
        }
        if (example.Tokens.Length > model.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"example {index} has {example.Tokens.Length} tokens, more than max_position_embeddings {model.Config.MaxPositionEmbeddings}");
        if (example.LossTokens == 0) throw new ArgumentException($"example {index} has no loss tokens (an empty answer?)");
    }

    public void Describe(LmExample example, Fingerprint fingerprint) => fingerprint.Add(example.Tokens).Add(example.Targets());

    public LmMetrics AccumulateGradients(IReadOnlyList<LmExample> microBatch, double normalizer)
    {
        var (batch, targets) = Pack(microBatch);
        var weights = new double[batch.Count];
        for (int row = 0; row < weights.Length; row++) weights[row] = targets[row] >= 0 ? -1.0 / normalizer : 0.0;
        var logp = new double[batch.Count];
        model.Forward(batch, training: true);
        model.Backward(targets, weights, logp);
        return Sum(logp, targets);
    }

    public LmMetrics Measure(IReadOnlyList<LmExample> microBatch)
    {
        var (batch, targets) = Pack(microBatch);
        var logp = new double[batch.Count];
        model.Forward(batch, training: false);
        model.TokenLogProbs(targets, logp);
        return Sum(logp, targets);
    }

    private static (TokenBatch Batch, int[] Targets) Pack(IReadOnlyList<LmExample> microBatch) =>
        (TokenBatch.Pack(microBatch.Select(e => (IReadOnlyList<int>)e.Tokens).ToArray()), [.. microBatch.SelectMany(e => e.Targets())]);

    private static LmMetrics Sum(double[] logp, int[] targets)
    {
        double sum = 0;
        long count = 0;
        for (int row = 0; row < logp.Length; row++)
        {
            sum += logp[row];
            if (targets[row] >= 0) count++;
        }
        return new LmMetrics(-sum, count);
    }
}
