using FastSelfReward.Model;
using FastSelfReward.Text;

namespace FastSelfReward.Training;

/// <summary>Instruction-tuning settings. Defaults follow the paper (lr 5.5e-6 cosine to 1.1e-6, batch 16).</summary>
public sealed record SftOptions
{
    /// <summary>Passes over the training examples.</summary>
    public int Epochs { get; init; } = 1;
    /// <summary>Examples per optimizer step (the batch size).</summary>
    public int ExamplesPerStep { get; init; } = 16;
    /// <summary>Most tokens one forward pass packs; a step is split into as many micro-batches as it needs.</summary>
    public int MicroBatchTokens { get; init; } = 4096;
    /// <summary>Steps whose examples are sorted by length together (1: no bucketing).</summary>
    public int BucketSteps { get; init; } = 8;
    public double LearningRate { get; init; } = 5.5e-6;
    public double MinLearningRate { get; init; } = 1.1e-6;
    public int WarmupSteps { get; init; }
    public AdamWOptions AdamW { get; init; } = new();
    /// <summary>Evaluate the held-out loss every this many steps (0: only at the end).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Save the training state every this many steps (0: only at the end).</summary>
    public int CheckpointEvery { get; init; }
    public int Seed { get; init; }
}

/// <summary>
/// Supervised instruction tuning: cross-entropy on the answer tokens only,
/// <code>L = -(1/N) Σ_{sequences} Σ_{t ∈ answer} log p(x_t | x_&lt;t),   N = answer tokens of the step,</code>
/// where the prompt's tokens are context but never targets. Each step is <see cref="CausalLmTrainer"/>'s
/// (gradient accumulation normalised over the whole step, AdamW, clipping, warmup then cosine).
/// Examples are bucketed by length, a held-out loss is measured periodically, and
/// <see cref="Run"/> checkpoints and resumes so that a resumed run ends with the same weights as an
/// uninterrupted one.
/// </summary>
public sealed class SftTrainer : IDisposable
{
    private readonly LlamaModel _model;
    private readonly LmExample[] _train, _eval;
    private readonly AdamWOptimizer _optimizer;
    private readonly CausalLmTrainer _trainer;
    private readonly string _fingerprint;
    private (int Epoch, List<List<List<LmExample>>> Steps)? _plan;

    /// <param name="model">The model to tune; its current weights are the starting point.</param>
    /// <param name="options">Settings.</param>
    /// <param name="train">Training examples (see <see cref="Example"/>).</param>
    /// <param name="eval">Held-out examples for the eval loss (may be empty).</param>
    public SftTrainer(LlamaModel model, SftOptions options, IReadOnlyList<LmExample> train, IReadOnlyList<LmExample> eval)
    {
        if (options.Epochs < 1) throw new ArgumentOutOfRangeException(nameof(options), $"Epochs is {options.Epochs}; must be at least 1");
        if (options.ExamplesPerStep < 1) throw new ArgumentOutOfRangeException(nameof(options), $"ExamplesPerStep is {options.ExamplesPerStep}; must be at least 1");
        if (options.MicroBatchTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), $"MicroBatchTokens is {options.MicroBatchTokens}; must be positive");
        if (options.BucketSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), $"BucketSteps is {options.BucketSteps}; must be at least 1");
        if (train.Count == 0) throw new ArgumentException("SFT needs at least one training example", nameof(train));
        _model = model;
        Options = options;
        _train = Checked(train, nameof(train), model.Config);
        _eval = Checked(eval, nameof(eval), model.Config);
        StepsPerEpoch = (_train.Length + options.ExamplesPerStep - 1) / options.ExamplesPerStep;
        Schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate, options.WarmupSteps, options.Epochs * StepsPerEpoch);
        _optimizer = new AdamWOptimizer(model, options.AdamW);
        _trainer = new CausalLmTrainer(model, _optimizer, Schedule);
        using var fingerprint = new Fingerprint("fsr-sft/1").AddJson(options).AddJson(model.Config);
        foreach (var set in new[] { _train, _eval })
        {
            fingerprint.Add(set.Length);
            foreach (var example in set) fingerprint.Add(example.Tokens).Add(Targets(example));
        }
        _fingerprint = fingerprint.Hex();
    }

    public SftOptions Options { get; }
    public int StepsPerEpoch { get; }
    public LearningRateSchedule Schedule { get; }
    public AdamWOptimizer Optimizer => _optimizer;

    /// <summary>A training example from a rendered chat: prompt and answer tokens, the loss on the answer's (end-of-turn included).</summary>
    public static LmExample Example(ChatTokens chat) => new(chat.Ids, chat.LossMask());

    /// <summary>
    /// The steps of one epoch, each a list of micro-batches, deterministic in (seed, epoch): the
    /// examples are shuffled, cut into windows of <see cref="SftOptions.BucketSteps"/> steps, sorted by
    /// length within a window and cut into steps, and the steps are shuffled. Examples of similar
    /// length in one step fill its micro-batches' token budget evenly and give attention balanced
    /// work, while the windows keep the data order random at the scale of the epoch.
    /// </summary>
    public static List<List<List<LmExample>>> PlanEpoch(IReadOnlyList<LmExample> examples, SftOptions options, int epoch)
    {
        var random = new Random(unchecked(options.Seed * 1_000_003 + epoch));
        var order = Enumerable.Range(0, examples.Count).ToArray();
        random.Shuffle(order);
        int window = options.ExamplesPerStep * options.BucketSteps;
        var steps = new List<List<LmExample>>();
        foreach (var chunk in order.Chunk(window))
        {
            // A stable sort keeps the shuffled order among equal lengths.
            var sorted = chunk.OrderBy(i => examples[i].Tokens.Length).Select(i => examples[i]);
            steps.AddRange(sorted.Chunk(options.ExamplesPerStep).Select(s => s.ToList()));
        }
        var stepOrder = steps.ToArray();
        random.Shuffle(stepOrder);
        return stepOrder.Select(s => MicroBatcher.Pack(s, options.MicroBatchTokens)).ToList();
    }

    /// <summary>
    /// Mean cross-entropy per answer token over the held-out examples (NaN when there are none).
    /// Inference passes only: the weights, gradients and optimizer are untouched.
    /// </summary>
    public double EvaluateLoss()
    {
        double sum = 0;
        long tokens = 0;
        foreach (var microBatch in MicroBatcher.Pack(_eval, Options.MicroBatchTokens))
        {
            var batch = TokenBatch.Pack(microBatch.Select(e => (IReadOnlyList<int>)e.Tokens).ToArray());
            var targets = microBatch.SelectMany(Targets).ToArray();
            var logp = new double[batch.Count];
            _model.Forward(batch, training: false);
            _model.TokenLogProbs(targets, logp);
            for (int i = 0; i < logp.Length; i++) sum += logp[i];
            tokens += targets.Count(t => t >= 0);
        }
        return tokens == 0 ? double.NaN : -sum / tokens;
    }

    /// <summary>
    /// Trains for <see cref="SftOptions.Epochs"/>, logging <c>loss</c>, <c>grad_norm</c>,
    /// <c>learning_rate</c> and <c>epoch</c> per step and <c>eval_loss</c> per evaluation.
    /// With <paramref name="checkpointPath"/>, the training state is saved there every
    /// <see cref="SftOptions.CheckpointEvery"/> steps and at the end, and a run that finds the file
    /// resumes from it (a finished run then only evaluates).
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another configuration or dataset.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between steps; nothing is saved (as a kill).</exception>
    public TrainingSummary Run(string? checkpointPath = null, Action<MetricsRecord>? log = null, CancellationToken cancel = default)
    {
        var settings = new LoopSettings(Options.Epochs, Options.EvalEvery, Options.CheckpointEvery, Options.Seed);
        return TrainingLoop.Run(_model, _optimizer, settings, _fingerprint, _ => StepsPerEpoch,
            (epoch, index) =>
            {
                var metrics = _trainer.Step(Plan(epoch)[index]);
                return new Dictionary<string, double>
                {
                    ["loss"] = metrics.Loss,
                    ["grad_norm"] = metrics.GradNorm,
                    ["learning_rate"] = metrics.LearningRate,
                    ["epoch"] = epoch + (index + 1.0) / StepsPerEpoch,
                };
            },
            () => _eval.Length == 0 ? null : new Dictionary<string, double> { ["eval_loss"] = EvaluateLoss() },
            checkpointPath, log, cancel);
    }

    public void Dispose() => _optimizer.Dispose();

    private List<List<List<LmExample>>> Plan(int epoch)
    {
        if (_plan is not { } plan || plan.Epoch != epoch) _plan = plan = (epoch, PlanEpoch(_train, Options, epoch));
        return plan.Steps;
    }

    /// <summary>targets[i] = the token row i predicts when it counts in the loss, else -1.</summary>
    private static int[] Targets(LmExample example)
    {
        var targets = new int[example.Tokens.Length];
        for (int i = 0; i < targets.Length; i++)
            targets[i] = i + 1 < targets.Length && example.IsTarget(i + 1) ? example.Tokens[i + 1] : -1;
        return targets;
    }

    private static LmExample[] Checked(IReadOnlyList<LmExample> examples, string name, LlamaConfig config)
    {
        for (int i = 0; i < examples.Count; i++)
        {
            var example = examples[i].Validate();
            if (example.Tokens.Length > config.MaxPositionEmbeddings)
                throw new ArgumentException($"{name} example {i} has {example.Tokens.Length} tokens, more than max_position_embeddings {config.MaxPositionEmbeddings}", name);
            if (example.LossTokens == 0)
                throw new ArgumentException($"{name} example {i} has no loss tokens (an empty answer?)", name);
        }
        return examples.ToArray();
    }
}
