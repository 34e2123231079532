using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>DPO settings. Defaults follow the paper (β 0.1, lr 1e-6 decaying to 1e-7, batch 16).</summary>
public sealed record DpoOptions
{
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
    public int Epochs { get; init; } = 1;
    /// <summary>Pairs per optimizer step (the batch size).</summary>
    public int PairsPerStep { get; init; } = 16;
    /// <summary>Most tokens one forward pass packs (both sequences of a pair count).</summary>
    public int MicroBatchTokens { get; init; } = 4096;
    /// <summary>Fraction of the pairs held out for evaluation (deterministic in <see cref="Seed"/>).</summary>
    public double HeldOutFraction { get; init; } = 0.05;
    public double LearningRate { get; init; } = 1e-6;
    public double MinLearningRate { get; init; } = 1e-7;
    public int WarmupSteps { get; init; }
    public AdamWOptions AdamW { get; init; } = new();
    /// <summary>Evaluate on the held-out pairs every this many steps (0: only at the end).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Save the training state every this many steps (0: only at the end).</summary>
    public int CheckpointEvery { get; init; }
    public int Seed { get; init; }
}

/// <summary>Means over a set of pairs, under TRL's names (see <see cref="ToDictionary"/>).</summary>
/// <param name="Loss">Mean DPO loss.</param>
/// <param name="RewardsChosen">Mean β (log π(y_w|x) - log π_ref(y_w|x)).</param>
/// <param name="RewardsRejected">Mean β (log π(y_l|x) - log π_ref(y_l|x)).</param>
/// <param name="RewardsMargins">Mean of chosen minus rejected reward.</param>
/// <param name="RewardsAccuracies">Fraction of pairs whose chosen reward exceeds the rejected one.</param>
/// <param name="LogpsChosen">Mean policy log-prob of the chosen answers.</param>
/// <param name="LogpsRejected">Mean policy log-prob of the rejected answers.</param>
/// <param name="Pairs">Pairs measured.</param>
public sealed record DpoMetrics(double Loss, double RewardsChosen, double RewardsRejected, double RewardsMargins,
    double RewardsAccuracies, double LogpsChosen, double LogpsRejected, int Pairs)
{
    /// <summary>The values under TRL's names, each prefixed (<c>eval_</c> for held-out pairs).</summary>
    public Dictionary<string, double> ToDictionary(string prefix = "") => new()
    {
        [prefix + "loss"] = Loss,
        [prefix + "rewards/chosen"] = RewardsChosen,
        [prefix + "rewards/rejected"] = RewardsRejected,
        [prefix + "rewards/margins"] = RewardsMargins,
        [prefix + "rewards/accuracies"] = RewardsAccuracies,
        [prefix + "logps/chosen"] = LogpsChosen,
        [prefix + "logps/rejected"] = LogpsRejected,
    };
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
public sealed class DpoTrainer : IDisposable
{
    private readonly LlamaModel _model;
    private readonly PreferencePair[] _pairs;
    private readonly double[] _referenceChosen, _referenceRejected;
    private readonly AdamWOptimizer _optimizer;
    private readonly GrowableBuffer _lossScratch;
    private readonly string _fingerprint;
    private (int Epoch, List<List<int[]>> Steps)? _plan;

    /// <param name="model">The policy, holding the weights the reference was computed from (or, on resume, any weights: the checkpoint replaces them).</param>
    /// <param name="options">Settings.</param>
    /// <param name="pairs">Every pair; <see cref="DpoOptions.HeldOutFraction"/> of them are held out.</param>
    /// <param name="reference">The reference log-probs of exactly these pairs.</param>
    public DpoTrainer(LlamaModel model, DpoOptions options, IReadOnlyList<PreferencePair> pairs, ReferenceLogProbs reference)
    {
        if (!(options.Beta > 0)) throw new ArgumentOutOfRangeException(nameof(options), $"Beta is {options.Beta}; must be positive");
        if (!(options.LabelSmoothing >= 0 && options.LabelSmoothing < 0.5))
            throw new ArgumentOutOfRangeException(nameof(options), $"LabelSmoothing is {options.LabelSmoothing}; must lie in [0, 0.5)");
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Epochs is {options.Epochs}; must be at least 1");
        if (options.PairsPerStep < 1) throw new ArgumentOutOfRangeException(nameof(options), $"PairsPerStep is {options.PairsPerStep}; must be at least 1");
        if (options.MicroBatchTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), $"MicroBatchTokens is {options.MicroBatchTokens}; must be positive");
        if (pairs.Count == 0) throw new ArgumentException("DPO needs at least one pair", nameof(pairs));
        if (reference.PairsHash != ReferenceLogProbs.ComputePairsHash(pairs))
            throw new ArgumentException("the reference log-probs were computed for other pairs", nameof(reference));
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(model.Config, i);
        _model = model;
        Options = options;
        _pairs = pairs.ToArray();
        _referenceChosen = reference.Chosen.ToArray();
        _referenceRejected = reference.Rejected.ToArray();
        (TrainPairs, HeldOutPairs) = HeldOutSplit.Indices(pairs.Count, options.HeldOutFraction, options.Seed);
        StepsPerEpoch = (TrainPairs.Count + options.PairsPerStep - 1) / options.PairsPerStep;
        Schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate, options.WarmupSteps, options.Epochs * StepsPerEpoch);
        _optimizer = new AdamWOptimizer(model, options.AdamW);
        _lossScratch = new GrowableBuffer(model.Kernels, model.Type.Wide());
        using var fingerprint = new Fingerprint("fsr-dpo/1").AddJson(options).AddJson(model.Config)
            .Add(reference.ModelKey).Add(reference.PairsHash).Add(_referenceChosen).Add(_referenceRejected);
        _fingerprint = fingerprint.Hex();
    }

    public DpoOptions Options { get; }
    public LearningRateSchedule Schedule { get; }
    public AdamWOptimizer Optimizer => _optimizer;
    public int StepsPerEpoch { get; }

    /// <summary>Indices of the pairs trained on.</summary>
    public IReadOnlyList<int> TrainPairs { get; }

    /// <summary>Indices of the held-out pairs.</summary>
    public IReadOnlyList<int> HeldOutPairs { get; }

    /// <summary>
    /// One epoch's steps, each a list of micro-batches of pair indices: the training pairs shuffled
    /// by (seed, epoch), cut into steps of <see cref="DpoOptions.PairsPerStep"/>, each step packed
    /// greedily into micro-batches of at most <see cref="DpoOptions.MicroBatchTokens"/> tokens.
    /// </summary>
    public List<List<int[]>> PlanEpoch(int epoch)
    {
        var order = TrainPairs.ToArray();
        new Random(unchecked(Options.Seed * 1_000_003 + epoch)).Shuffle(order);
        return order.Chunk(Options.PairsPerStep).Select(step => PairBatch.MicroBatches(_pairs, step, Options.MicroBatchTokens)).ToList();
    }

    /// <summary>
    /// Adds to the model's gradients ∂L/∂θ of the step's mean loss over all pairs of
    /// <paramref name="microBatches"/> (not zeroed first) and returns the step's metrics.
    /// </summary>
    public DpoMetrics AccumulateGradients(IReadOnlyList<IReadOnlyList<int>> microBatches)
    {
        int n = microBatches.Sum(m => m.Count);
        if (n == 0) throw new ArgumentException("the step has no pairs", nameof(microBatches));
        var tally = new Tally();
        foreach (var indices in microBatches)
        {
            var packed = PairBatch.Pack(_pairs, indices);
            var logp = new double[packed.Batch.Count];
            _model.Forward(packed.Batch, training: true);
            _model.TokenLogProbs(packed.Targets, logp);
            var chosen = new double[indices.Count];
            var rejected = new double[indices.Count];
            packed.Sums(logp, chosen, rejected);
            var (gradChosen, gradRejected) = Loss(indices, chosen, rejected, tally);
            for (int j = 0; j < indices.Count; j++)
            {
                var (lc, lr) = AnswerScale(indices[j]);
                gradChosen[j] /= n * lc;
                gradRejected[j] /= n * lr;
            }
            _model.Backward(packed.Targets, packed.RowWeights(gradChosen, gradRejected), logp);
        }
        return tally.Metrics();
    }

    /// <summary>One optimizer step; returns the TRL metrics plus <c>grad_norm</c> and <c>learning_rate</c>.</summary>
    public Dictionary<string, double> Step(IReadOnlyList<IReadOnlyList<int>> microBatches)
    {
        using var _ = Nvtx.Range("dpo step");
        _model.ZeroGradients();
        var metrics = AccumulateGradients(microBatches).ToDictionary();
        double lr = Schedule.At(_optimizer.Step + 1);
        metrics["grad_norm"] = _optimizer.Update(lr);
        metrics["learning_rate"] = lr;
        return metrics;
    }

    /// <summary>Metrics of the given pairs under the current weights, by inference passes (nothing changes).</summary>
    public DpoMetrics Evaluate(IReadOnlyList<int> pairIndices)
    {
        var tally = new Tally();
        foreach (var indices in PairBatch.MicroBatches(_pairs, pairIndices, Options.MicroBatchTokens))
        {
            var (chosen, rejected) = PairBatch.Score(_model, _pairs, indices);
            Loss(indices, chosen, rejected, tally);
        }
        return tally.Metrics();
    }

    /// <summary>
    /// Trains for <see cref="DpoOptions.Epochs"/>, logging per step the TRL metrics with
    /// <c>grad_norm</c>, <c>learning_rate</c> and <c>epoch</c>, and per evaluation the held-out ones
    /// prefixed <c>eval_</c>. With <paramref name="checkpointPath"/>, the training state is saved every
    /// <see cref="DpoOptions.CheckpointEvery"/> steps and at the end, and a run that finds the file
    /// resumes from it. The reference must come from the starting weights: on resume, load them and
    /// the reference as on the first run; the checkpoint then replaces the weights.
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another configuration, dataset or reference.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between steps; nothing is saved (as a kill).</exception>
    public TrainingSummary Run(string? checkpointPath = null, Action<MetricsRecord>? log = null, CancellationToken cancel = default)
    {
        var settings = new LoopSettings(Options.Epochs, Options.EvalEvery, Options.CheckpointEvery, Options.Seed);
        return TrainingLoop.Run(_model, _optimizer, settings, _fingerprint, _ => StepsPerEpoch,
            (epoch, index) =>
            {
                var metrics = Step(Plan(epoch)[index]);
                metrics["epoch"] = epoch + (index + 1.0) / StepsPerEpoch;
                return metrics;
            },
            () => HeldOutPairs.Count == 0 ? null : Evaluate(HeldOutPairs).ToDictionary("eval_"),
            checkpointPath, log, cancel);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _lossScratch.Dispose();
    }

    private List<List<int[]>> Plan(int epoch)
    {
        if (_plan is not { } plan || plan.Epoch != epoch) _plan = plan = (epoch, PlanEpoch(epoch));
        return plan.Steps;
    }

    /// <summary>
    /// Runs <see cref="IKernels.DpoLoss"/> on the pairs' policy log-prob sums and their reference's,
    /// normalised when so configured, adds the pairs to the tally, and returns ∂ℓᵢ/∂π_w and ∂ℓᵢ/∂π_l.
    /// </summary>
    private (double[] Chosen, double[] Rejected) Loss(IReadOnlyList<int> indices, double[] chosenSums, double[] rejectedSums, Tally tally)
    {
        int n = indices.Count;
        var chosen = new double[n];
        var rejected = new double[n];
        var refChosen = new double[n];
        var refRejected = new double[n];
        for (int j = 0; j < n; j++)
        {
            var (lc, lr) = AnswerScale(indices[j]);
            chosen[j] = chosenSums[j] / lc;
            rejected[j] = rejectedSums[j] / lr;
            refChosen[j] = _referenceChosen[indices[j]] / lc;
            refRejected[j] = _referenceRejected[indices[j]] / lr;
        }
        var kernels = _model.Kernels;
        var buffer = _lossScratch.Get(9L * n);
        Tensor Part(int k) => buffer.Slice(k * (long)n, n);
        kernels.Upload(Part(5), chosen);
        kernels.Upload(Part(6), rejected);
        kernels.Upload(Part(7), refChosen);
        kernels.Upload(Part(8), refRejected);
        kernels.DpoLoss(Part(0), Part(1), Part(2), Part(3), Part(4), Part(5), Part(6), Part(7), Part(8),
            n, Options.Beta, Options.LabelSmoothing, Options.Loss);
        var loss = new double[n];
        var gradChosen = new double[n];
        var gradRejected = new double[n];
        kernels.Download(Part(0), loss);
        kernels.Download(Part(1), gradChosen);
        kernels.Download(Part(2), gradRejected);
        for (int j = 0; j < n; j++)
            tally.Add(loss[j], Options.Beta * (chosen[j] - refChosen[j]), Options.Beta * (rejected[j] - refRejected[j]), chosen[j], rejected[j]);
        return (gradChosen, gradRejected);
    }

    /// <summary>What a pair's sums are divided by: the answers' token counts when length-normalised, else 1.</summary>
    private (double Chosen, double Rejected) AnswerScale(int pair) =>
        Options.LengthNormalize ? (_pairs[pair].ChosenIds.Length, _pairs[pair].RejectedIds.Length) : (1, 1);

    /// <summary>Running sums of the per-pair quantities behind <see cref="DpoMetrics"/>.</summary>
    private sealed class Tally
    {
        private double _loss, _chosen, _rejected, _correct, _logpChosen, _logpRejected;
        private int _pairs;

        public void Add(double loss, double rewardChosen, double rewardRejected, double logpChosen, double logpRejected)
        {
            _loss += loss;
            _chosen += rewardChosen;
            _rejected += rewardRejected;
            _correct += rewardChosen > rewardRejected ? 1 : 0;
            _logpChosen += logpChosen;
            _logpRejected += logpRejected;
            _pairs++;
        }

        public DpoMetrics Metrics() => new(_loss / _pairs, _chosen / _pairs, _rejected / _pairs, (_chosen - _rejected) / _pairs,
            _correct / _pairs, _logpChosen / _pairs, _logpRejected / _pairs, _pairs);
    }
}
