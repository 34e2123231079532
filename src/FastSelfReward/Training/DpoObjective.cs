using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>A preference pair with its frozen reference's answer log-prob sums (<see cref="ReferenceLogProbs"/>).</summary>
public sealed record DpoExample(PreferencePair Pair, double ReferenceChosen, double ReferenceRejected);

/// <summary>Sums over pairs behind the DPO metrics, which are their means under TRL's names (see <see cref="Named"/>).</summary>
/// <param name="Pairs">Pairs measured.</param>
/// <param name="LossSum">Σ ℓ.</param>
/// <param name="RewardChosenSum">Σ β (log π(y_w|x) - log π_ref(y_w|x)).</param>
/// <param name="RewardRejectedSum">Σ β (log π(y_l|x) - log π_ref(y_l|x)).</param>
/// <param name="Correct">Pairs whose chosen reward exceeds the rejected one.</param>
/// <param name="LogpChosenSum">Σ log π(y_w|x).</param>
/// <param name="LogpRejectedSum">Σ log π(y_l|x).</param>
public sealed record DpoMetrics(int Pairs, double LossSum, double RewardChosenSum, double RewardRejectedSum, int Correct,
    double LogpChosenSum, double LogpRejectedSum) : ITrainingMetrics<DpoMetrics>
{
    public static DpoMetrics Zero { get; } = new(0, 0, 0, 0, 0, 0, 0);

    public static DpoMetrics operator +(DpoMetrics a, DpoMetrics b) => new(a.Pairs + b.Pairs, a.LossSum + b.LossSum,
        a.RewardChosenSum + b.RewardChosenSum, a.RewardRejectedSum + b.RewardRejectedSum, a.Correct + b.Correct,
        a.LogpChosenSum + b.LogpChosenSum, a.LogpRejectedSum + b.LogpRejectedSum);

    /// <summary>Mean DPO loss.</summary>
    public double Loss => LossSum / Pairs;
    public double RewardsChosen => RewardChosenSum / Pairs;
    public double RewardsRejected => RewardRejectedSum / Pairs;
    /// <summary>Mean of chosen minus rejected reward.</summary>
    public double RewardsMargins => (RewardChosenSum - RewardRejectedSum) / Pairs;
    /// <summary>Fraction of pairs whose chosen reward exceeds the rejected one.</summary>
    public double RewardsAccuracies => (double)Correct / Pairs;
    public double LogpsChosen => LogpChosenSum / Pairs;
    public double LogpsRejected => LogpRejectedSum / Pairs;

    public IEnumerable<KeyValuePair<string, double>> Named() =>
    [
        KeyValuePair.Create("loss", Loss),
        KeyValuePair.Create("rewards/chosen", RewardsChosen),
        KeyValuePair.Create("rewards/rejected", RewardsRejected),
        KeyValuePair.Create("rewards/margins", RewardsMargins),
        KeyValuePair.Create("rewards/accuracies", RewardsAccuracies),
        KeyValuePair.Create("logps/chosen", LogpsChosen),
        KeyValuePair.Create("logps/rejected", LogpsRejected),
    ];

    public double[] Sums() => [Pairs, LossSum, RewardChosenSum, RewardRejectedSum, Correct, LogpChosenSum, LogpRejectedSum];

    public static DpoMetrics FromSums(ReadOnlySpan<double> sums) =>
        new((int)sums[0], sums[1], sums[2], sums[3], (int)sums[4], sums[5], sums[6]);
}

/// <summary>
/// Direct preference optimisation (Rafailov et al., 2023) of a policy against a frozen reference
/// whose log-probs were computed once (<see cref="ReferenceLogProbs"/>), so only one model is held.
/// </summary>
/// <remarks>
/// For pair i, π_w and π_l are the policy's log-probs of the chosen and rejected answer given the
/// prompt (sums over answer tokens, or means with <see cref="DpoOptions.LengthNormalize"/>), r_w, r_l
/// the reference's, and
/// <code>
/// h = (π_w - r_w) - (π_l - r_l),   x = β h,   ε = label smoothing
/// sigmoid: ℓ = -(1-ε) log σ(x) - ε log σ(-x)              ∂ℓ/∂π_w = -β ((1-ε) σ(-x) - ε σ(x))
/// ipo:     ℓ = (h - 1/(2β))²                              ∂ℓ/∂π_w = 2 (h - 1/(2β))
/// robust:  ℓ = (-(1-ε) log σ(x) + ε log σ(-x)) / (1-2ε)   ∂ℓ/∂π_w = -β ((1-ε) σ(-x) + ε σ(x)) / (1-2ε)
/// </code>
/// and ∂ℓ/∂π_l = -∂ℓ/∂π_w (<see cref="IKernels.DpoLoss"/> computes ℓ and these). A step's loss is
/// L = (1/N) Σᵢ ℓᵢ over its N pairs, whatever its micro-batches; since π is a sum of token log-probs,
/// every answer token t of pair i's chosen sequence gets
/// <code>∂L/∂log p(y_t | x, y_&lt;t) = (1/N) ∂ℓᵢ/∂π_w   (× 1/|y_w| when length-normalised)</code>
/// and likewise for the rejected one: these are the row weights of <see cref="LlamaModel.Backward"/>.
/// One training forward serves both the log-probs (read by <see cref="LlamaModel.TokenLogProbs"/>,
/// which leaves the saved activations alone) and the backward, whose row weights depend on those
/// log-probs; only the language-model head of the answer rows runs twice. Metrics follow TRL:
/// rewards are β(π - r), accuracy counts chosen reward &gt; rejected reward.
/// </remarks>
public sealed class DpoObjective : ITrainingObjective<DpoExample, DpoMetrics>, IDisposable
{
    private readonly LlamaModel _model;
    private readonly DpoOptions _options;
    private readonly GrowableBuffer _lossScratch;

    /// <param name="model">The policy.</param>
    /// <param name="options">β, the loss and its label smoothing, length normalisation.</param>
    public DpoObjective(LlamaModel model, DpoOptions options)
    {
        options.Validate();
        _model = model;
        _options = options;
        _lossScratch = new GrowableBuffer(model.Kernels, model.Type.Wide());
    }

    public string Name => "dpo";

    public int Tokens(DpoExample example) => example.Pair.Tokens;

    public long LossWeight(DpoExample example) => 1;

    public void Validate(DpoExample example, int index) => example.Pair.Validate(_model.Config, index);

    public void Describe(DpoExample example, Fingerprint fingerprint) => fingerprint.Add(example.Pair.PromptIds).Add(example.Pair.ChosenIds)
        .Add(example.Pair.RejectedIds).Add([example.ReferenceChosen, example.ReferenceRejected]);

    public DpoMetrics AccumulateGradients(IReadOnlyList<DpoExample> microBatch, double normalizer)
    {
        var (packed, logp, chosen, rejected) = PairBatch.Forward(_model, [.. microBatch.Select(e => e.Pair)], training: true);
        var (metrics, gradChosen, gradRejected) = Loss(microBatch, chosen, rejected);
        for (int j = 0; j < microBatch.Count; j++)
        {
            var (lc, lr) = AnswerScale(microBatch[j].Pair);
            gradChosen[j] /= normalizer * lc;
            gradRejected[j] /= normalizer * lr;
        }
        _model.Backward(packed.Targets, packed.RowWeights(gradChosen, gradRejected), logp);
        return metrics;
    }

    public DpoMetrics Measure(IReadOnlyList<DpoExample> microBatch)
    {
        var (chosen, rejected) = PairBatch.Score(_model, [.. microBatch.Select(e => e.Pair)]);
        return Loss(microBatch, chosen, rejected).Metrics;
    }

    public void Dispose() => _lossScratch.Dispose();

    /// <summary>
    /// Runs <see cref="IKernels.DpoLoss"/> on the pairs' policy log-prob sums and their reference's,
    /// normalised when so configured, and returns the pairs' metric sums with ∂ℓᵢ/∂π_w and ∂ℓᵢ/∂π_l.
    /// </summary>
    private (DpoMetrics Metrics, double[] Chosen, double[] Rejected) Loss(IReadOnlyList<DpoExample> pairs, double[] chosenSums, double[] rejectedSums)
    {
        int n = pairs.Count;
        var chosen = new double[n];
        var rejected = new double[n];
        var refChosen = new double[n];
        var refRejected = new double[n];
        for (int j = 0; j < n; j++)
        {
            var (lc, lr) = AnswerScale(pairs[j].Pair);
            chosen[j] = chosenSums[j] / lc;
            rejected[j] = rejectedSums[j] / lr;
            refChosen[j] = pairs[j].ReferenceChosen / lc;
            refRejected[j] = pairs[j].ReferenceRejected / lr;
        }
        var kernels = _model.Kernels;
        var buffer = _lossScratch.Get(7L * n);
        Tensor Part(int k) => buffer.Slice(k * (long)n, n);
        kernels.Upload(Part(3), chosen);
        kernels.Upload(Part(4), rejected);
        kernels.Upload(Part(5), refChosen);
        kernels.Upload(Part(6), refRejected);
        kernels.DpoLoss(Part(0), Part(1), Part(2), Part(3), Part(4), Part(5), Part(6), n, _options.Beta, _options.LabelSmoothing, _options.Loss);
        var loss = new double[n];
        var gradChosen = new double[n];
        var gradRejected = new double[n];
        kernels.Download(Part(0), loss);
        kernels.Download(Part(1), gradChosen);
        kernels.Download(Part(2), gradRejected);
        var metrics = DpoMetrics.Zero;
        for (int j = 0; j < n; j++)
        {
            double rewardChosen = _options.Beta * (chosen[j] - refChosen[j]), rewardRejected = _options.Beta * (rejected[j] - refRejected[j]);
            metrics += new DpoMetrics(1, loss[j], rewardChosen, rewardRejected, rewardChosen > rewardRejected ? 1 : 0, chosen[j], rejected[j]);
        }
        return (metrics, gradChosen, gradRejected);
    }

    /// <summary>What a pair's sums are divided by: the answers' token counts when length-normalised, else 1.</summary>
    private (double Chosen, double Rejected) AnswerScale(PreferencePair pair) =>
        _options.LengthNormalize ? (pair.ChosenIds.Length, pair.RejectedIds.Length) : (1, 1);
}
