using System.Diagnostics;
using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;
using FastSelfReward.Reporting;

namespace FastSelfReward.Training;

/// <summary>What one optimizer step did.</summary>
/// <param name="Step">The optimizer step (1-based).</param>
/// <param name="Metrics">The objective's sums over the step's examples.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="GradNorm">Global gradient norm before clipping.</param>
/// <param name="Tokens">Tokens processed (prompt tokens included).</param>
/// <param name="Seconds">Wall time of the step.</param>
public sealed record StepReport<TMetrics>(long Step, TMetrics Metrics, double LearningRate, double GradNorm, long Tokens, double Seconds)
{
    /// <summary>Epochs done after this step, fractional (filled in by <see cref="TrainingRun{TExample,TMetrics}.Run"/>).</summary>
    public double Epoch { get; init; }
}

/// <summary>Where a run's state, metrics and progress go; every part is optional.</summary>
public sealed record TrainingOutput
{
    /// <summary>The training-state file: resumed from when it exists, saved on the checkpoint cadence and after the last step.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Receives every step's loss, learning rate, gradient norm and throughput.</summary>
    public IProgressSink? Progress { get; init; }

    /// <summary>Names the task in the progress display.</summary>
    public string Label { get; init; } = "train";

    /// <summary>
    /// Receives a record every <see cref="TrainingOptions.LogEvery"/> steps, and one per evaluation:
    /// <c>PREFIXloss</c>, ..., <c>PREFIXgrad_norm</c>, <c>PREFIXlearning_rate</c>, <c>PREFIXepoch</c>,
    /// <c>PREFIXtokens</c>, <c>PREFIXtokens_per_s</c>; evaluations <c>PREFIXeval_loss</c>, ...
    /// </summary>
    public MetricsLog? Metrics { get; init; }

    /// <summary>Prefixes every metric name (a stage's, such as <c>sft/</c>).</summary>
    public string MetricsPrefix { get; init; } = "";
}

/// <summary>How a call to <see cref="TrainingRun{TExample,TMetrics}.Run"/> ended.</summary>
/// <param name="Steps">The run's last optimizer step (a resumed run counts those before its checkpoint).</param>
/// <param name="ResumedFrom">The step of the training state the run resumed from; null for a fresh run.</param>
/// <param name="First">The first step this call took; null when it took none.</param>
/// <param name="Last">The last step this call took; null when it took none.</param>
/// <param name="HeldOut">The final evaluation on the held-out examples; null when there are none.</param>
/// <param name="Tokens">Tokens this call processed.</param>
/// <param name="Seconds">Wall time of this call's steps.</param>
public sealed record TrainingSummary<TMetrics>(long Steps, long? ResumedFrom, StepReport<TMetrics>? First, StepReport<TMetrics>? Last,
    TMetrics? HeldOut, long Tokens, double Seconds) where TMetrics : class;

/// <summary>A training run stopped by its cancellation token at a step boundary, its state saved there when it has a checkpoint path.</summary>
/// <param name="step">The last step taken.</param>
/// <param name="saved">Whether the state of that step is saved.</param>
/// <param name="token">The token that stopped it.</param>
public sealed class TrainingInterruptedException(long step, bool saved, CancellationToken token)
    : OperationCanceledException($"interrupted at step {step}{(saved ? " (training state saved)" : "")}", token)
{
    /// <summary>The last step taken.</summary>
    public long Step { get; } = step;

    /// <summary>Whether the state of that step is saved.</summary>
    public bool Saved { get; } = saved;
}

/// <summary>Creates <see cref="TrainingRun{TExample,TMetrics}"/>s with their type arguments inferred.</summary>
public static class TrainingRun
{
    /// <inheritdoc cref="TrainingRun{TExample,TMetrics}(LlamaModel, ITrainingObjective{TExample,TMetrics}, IReadOnlyList{TExample}, TrainingOptions, int, Communicator, bool)"/>
    public static TrainingRun<TExample, TMetrics> Create<TExample, TMetrics>(LlamaModel model, ITrainingObjective<TExample, TMetrics> objective,
        IReadOnlyList<TExample> examples, TrainingOptions options, int seed, Communicator? world = null, bool shardOptimizer = true)
        where TMetrics : class, ITrainingMetrics<TMetrics> =>
        new(model, objective, examples, options, seed, world, shardOptimizer);
}

/// <summary>
/// The one training loop: pretraining, SFT and DPO differ only in the objective and the data. It owns
/// the held-out split, the step plan (<see cref="StepPlan"/>), micro-batching with gradient
/// accumulation, the warmup-cosine schedule, AdamW with clipping, periodic evaluation, checkpoints
/// with resume, metrics and progress.
/// </summary>
/// <remarks>
/// A step is: zero the gradients; accumulate each micro-batch's gradient of the step's loss, normalised
/// by the whole step's loss weight; update. With several ranks (<see cref="World"/>) every rank plans
/// the same steps, takes its share of each step's micro-batches (<see cref="Deal"/>), and the gradients
/// and metric sums are added across ranks, in rank order, before the update, which every rank then
/// makes alike: the weights stay equal on every rank. Rank 0 alone writes checkpoints, metrics and
/// progress. A run that finds its checkpoint
/// resumes from it and ends with the weights of an uninterrupted run, to the bit: every epoch's plan
/// is a pure function of (seed, epoch), and the state holds weights, moments, step and data cursor.
/// </remarks>
public sealed class TrainingRun<TExample, TMetrics> : IDisposable where TMetrics : class, ITrainingMetrics<TMetrics>
{
    private readonly LlamaModel _model;
    private readonly ITrainingObjective<TExample, TMetrics> _objective;
    private readonly TExample[] _train, _heldOut;
    private readonly int[] _heldOutIndices;
    private readonly string _fingerprint;
    private (int Epoch, List<List<TExample[]>> Steps)? _plan;

    /// <param name="model">The model to train; its current weights are the starting point.</param>
    /// <param name="objective">The loss; disposed with the run when it is disposable.</param>
    /// <param name="examples">Every example; <see cref="TrainingOptions"/>' held-out share of them is kept for evaluation.</param>
    /// <param name="options">Length, schedule, optimizer, batching and cadences.</param>
    /// <param name="seed">Seeds the held-out split and every epoch's order.</param>
    /// <param name="world">The ranks training together, each with the same model, examples, options and seed; null: this process alone.</param>
    /// <param name="shardOptimizer">Above one rank, each rank keeps its range of the optimizer's moments only (ZeRO-1); the weights are the same either way.</param>
    /// <exception cref="ArgumentException">An option is out of range, there are no examples, or an example does not fit the model.</exception>
    public TrainingRun(LlamaModel model, ITrainingObjective<TExample, TMetrics> objective, IReadOnlyList<TExample> examples,
        TrainingOptions options, int seed, Communicator? world = null, bool shardOptimizer = true)
    {
        World = world ?? Communicator.Single;
        options.Validate();
        if (examples.Count == 0) throw new ArgumentException("no training examples", nameof(examples));
        for (int i = 0; i < examples.Count; i++) objective.Validate(examples[i], i);
        _model = model;
        _objective = objective;
        Options = options;
        Seed = seed;
        var (train, heldOut) = HeldOutSplit.Indices(examples.Count, options.HeldOutShare, seed);
        _train = [.. train.Select(i => examples[i])];
        _heldOut = [.. heldOut.Select(i => examples[i])];
        _heldOutIndices = heldOut;
        TotalSteps = options.StepLimit ?? Enumerable.Range(0, options.Epochs).Sum(e => (long)PlanEpoch(e).Count);
        int warmup = options.WarmupSteps ?? (int)Math.Min(100, TotalSteps / 10);
        Schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate ?? options.LearningRate / 10, warmup, (int)TotalSteps);
        Optimizer = new AdamWOptimizer(model, options.AdamW, World, shardOptimizer);

        using var fingerprint = new Fingerprint("fsr-training/2").Add(objective.Name).AddJson<object>(options.WithoutCadences())
            .AddJson(model.Config).Add(examples.Count);
        foreach (var example in examples) objective.Describe(example, fingerprint);
        _fingerprint = fingerprint.Hex();
    }

    /// <summary>Raised by <see cref="Run"/> after each step is logged and reported, before its evaluation and checkpoint.</summary>
    public event Action<StepReport<TMetrics>>? Stepped;

    /// <summary>Raised by <see cref="Run"/> after each evaluation of the held-out examples, with the step it followed.</summary>
    public event Action<long, TMetrics>? Evaluated;

    /// <summary>The ranks training together (one unless mpirun started several).</summary>
    public Communicator World { get; }

    public TrainingOptions Options { get; }
    public int Seed { get; }
    public LearningRateSchedule Schedule { get; }
    public AdamWOptimizer Optimizer { get; }

    /// <summary>Digest of what the run trains: objective, options but for cadences, model configuration, every example.</summary>
    public string Fingerprint => _fingerprint;

    /// <summary>Optimizer steps of the whole run.</summary>
    public long TotalSteps { get; }

    /// <summary>The examples trained on, in their given order.</summary>
    public IReadOnlyList<TExample> TrainExamples => _train;

    /// <summary>The held-out examples, in their given order.</summary>
    public IReadOnlyList<TExample> HeldOutExamples => _heldOut;

    /// <summary>Where each of <see cref="HeldOutExamples"/> stands in the examples the run was given, ascending.</summary>
    public IReadOnlyList<int> HeldOutIndices => _heldOutIndices;

    /// <summary>One epoch's steps, each a list of micro-batches (see <see cref="StepPlan.Epoch"/>).</summary>
    public List<List<TExample[]>> PlanEpoch(int epoch)
    {
        if (_plan is not { } plan || plan.Epoch != epoch)
            _plan = plan = (epoch, StepPlan.Epoch(_train, _objective.Tokens, Options.Shape, Seed, epoch));
        return plan.Steps;
    }

    /// <summary>
    /// Adds to the model's gradients the gradient of the step's loss over all of
    /// <paramref name="microBatches"/>, normalised by their total loss weight (gradients are not
    /// zeroed first), and returns the step's metric sums.
    /// </summary>
    public TMetrics AccumulateGradients(IReadOnlyList<IReadOnlyList<TExample>> microBatches) =>
        AccumulateGradients(microBatches, LossWeight(microBatches));

    /// <summary>The step's normaliser N: the loss weight of all its micro-batches.</summary>
    private long LossWeight(IReadOnlyList<IReadOnlyList<TExample>> microBatches)
    {
        long weight = microBatches.Sum(m => m.Sum(_objective.LossWeight));
        return weight > 0 ? weight : throw new ArgumentException("the step has nothing to learn from (no loss tokens or pairs)", nameof(microBatches));
    }

    private TMetrics AccumulateGradients(IEnumerable<IReadOnlyList<TExample>> microBatches, long normalizer)
    {
        var sums = TMetrics.Zero;
        foreach (var microBatch in microBatches) sums += _objective.AccumulateGradients(microBatch, normalizer);
        return sums;
    }

    /// <summary>
    /// This rank's share of <paramref name="microBatches"/>: the largest (in tokens) goes to the
    /// least-loaded rank, the lower rank among equals, so shares are balanced and every rank works
    /// out the same deal; a share keeps the micro-batches' order.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<TExample>> Deal(IReadOnlyList<IReadOnlyList<TExample>> microBatches)
    {
        if (World.Size == 1) return microBatches;
        long[] tokens = [.. microBatches.Select(m => m.Sum(e => (long)_objective.Tokens(e)))], load = new long[World.Size];
        var mine = new List<int>();
        foreach (int i in Enumerable.Range(0, microBatches.Count).OrderByDescending(i => tokens[i]).ThenBy(i => i))
        {
            int rank = Array.IndexOf(load, load.Min());
            load[rank] += tokens[i];
            if (rank == World.Rank) mine.Add(i);
        }
        mine.Sort();
        return [.. mine.Select(i => microBatches[i])];
    }

    /// <summary>One optimizer step over the given micro-batches (with several ranks, every rank passes the same ones).</summary>
    public StepReport<TMetrics> Step(IReadOnlyList<IReadOnlyList<TExample>> microBatches)
    {
        using var _ = Nvtx.Range("train step");
        var clock = Stopwatch.StartNew();
        _model.ZeroGradients();
        // The normaliser is the whole step's, all ranks together: each rank adds its share's gradient
        // of the step's loss, and the sum over ranks is the gradient of the whole step.
        var metrics = AccumulateGradients(Deal(microBatches), LossWeight(microBatches));
        if (World.Size > 1) metrics = SumOverRanks(metrics);
        // The optimizer sums the ranks' gradients (whole, or each rank its range of them: ZeRO-1).
        double learningRate = Schedule.At(Optimizer.Step + 1);
        double norm = Optimizer.Update(learningRate);
        long tokens = microBatches.Sum(m => m.Sum(e => (long)_objective.Tokens(e)));
        return new StepReport<TMetrics>(Optimizer.Step, metrics, learningRate, norm, tokens, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The metrics of <paramref name="examples"/> under the current weights, by inference passes in
    /// micro-batches of the run's budget: weights, gradients and optimizer are untouched.
    /// </summary>
    public TMetrics Evaluate(IReadOnlyList<TExample> examples)
    {
        using var _ = Nvtx.Range("evaluate");
        var sums = TMetrics.Zero;
        foreach (var microBatch in Deal(StepPlan.Pack(examples, _objective.Tokens, Options.MicroBatchTokens))) sums += _objective.Measure(microBatch);
        return World.Size > 1 ? SumOverRanks(sums) : sums;
    }

    private TMetrics SumOverRanks(TMetrics metrics)
    {
        double[] sums = metrics.Sums();
        World.AllReduceSum(sums);
        return TMetrics.FromSums(sums);
    }

    /// <summary>
    /// Every rank must train the same thing, or the sums over ranks would mix two runs (or one rank
    /// would wait in a step the others never take): rank 0's <see cref="Fingerprint"/> is sent to
    /// all, and a rank that differs stops the job on every rank, named.
    /// </summary>
    /// <exception cref="InvalidOperationException">A rank's model, data, options or seed differ from rank 0's.</exception>
    private void CheckRanksAgree()
    {
        if (World.Size == 1) return;
        var mine = System.Text.Encoding.ASCII.GetBytes($"{Seed}:{_fingerprint}".PadRight(96));
        var root = (byte[])mine.Clone();
        World.Broadcast(root);
        var differs = new double[World.Size];
        differs[World.Rank] = mine.AsSpan().SequenceEqual(root) ? 0 : 1;
        World.AllReduceSum(differs);
        var ranks = Enumerable.Range(0, World.Size).Where(r => differs[r] > 0).ToList();
        if (ranks.Count > 0)
            throw new InvalidOperationException($"rank{(ranks.Count > 1 ? "s" : "")} {string.Join(", ", ranks)} of {World.Size} would train another " +
                                                "model, data, settings or seed than rank 0; every rank of a job must be started with the same command");
    }

    /// <summary>Whether any rank was asked to stop: every rank must stop at the same step boundary, or the others would wait in the next step's sum.</summary>
    private bool StopRequested(CancellationToken cancel)
    {
        if (World.Size == 1) return cancel.IsCancellationRequested;
        double[] requests = [cancel.IsCancellationRequested ? 1 : 0];
        World.AllReduceSum(requests);
        return requests[0] > 0;
    }

    /// <summary>
    /// Trains to <see cref="TotalSteps"/>, evaluating the held-out examples every
    /// <see cref="TrainingOptions.EvalEvery"/> steps and at the end. With a checkpoint path, the state
    /// is saved every <see cref="TrainingOptions.CheckpointEvery"/> steps and after the last, and a
    /// run that finds the file resumes from it (a finished one then only evaluates). The model ends
    /// with its whole master weights on every rank (<see cref="AdamWOptimizer.GatherWeights"/>).
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another model, objective, configuration, data or seed.</exception>
    /// <exception cref="TrainingInterruptedException">
    /// Cancelled: the run stops at the next step boundary and, with a checkpoint path, saves its state
    /// there first, so a rerun continues from that step (a killed run continues from its last save).
    /// </exception>
    public TrainingSummary<TMetrics> Run(TrainingOutput? output = null, CancellationToken cancel = default)
    {
        output ??= new TrainingOutput();
        CheckRanksAgree();
        // Rank 0 alone reports and writes; every rank reads the same checkpoint to resume.
        if (!World.IsRoot) output = output with { Progress = null, Metrics = null };
        bool saves = output.CheckpointPath is not null && World.IsRoot;
        var cursor = new TrainingCursor(0, 0);
        long? resumedFrom = null;
        if (output.CheckpointPath is string path && File.Exists(path))
        {
            var state = TrainingCheckpoint.Load(path, _model, Optimizer, Seed, _fingerprint);
            (cursor, resumedFrom) = (state.Cursor, state.Step);
        }

        var progress = output.Progress;
        progress?.Start(TotalSteps, output.Label);
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        StepReport<TMetrics>? first = null, last = null;
        TMetrics? heldOut = null;
        long evaluatedAt = -1;
        void EvaluateHeldOut()
        {
            heldOut = Evaluate(_heldOut);
            evaluatedAt = Optimizer.Step;
            output.Metrics?.Write(Optimizer.Step, heldOut.Named().Select(m => KeyValuePair.Create($"{output.MetricsPrefix}eval_{m.Key}", m.Value)));
            Evaluated?.Invoke(Optimizer.Step, heldOut);
        }

        var (epoch, index) = (cursor.Epoch, cursor.StepInEpoch);
        long savedAt = Optimizer.Step;
        void Save()
        {
            using var _ = Nvtx.Range("checkpoint");
            // Every rank takes part: sharded moments and master weights are gathered as rank 0 writes
            // them, so the state is one file that any number of ranks resumes from.
            TrainingCheckpoint.Save(saves ? output.CheckpointPath : null, _model, Optimizer, World, new TrainingCursor(epoch, index), Seed, _fingerprint);
            savedAt = Optimizer.Step;
        }
        for (long step = Optimizer.Step + 1; step <= TotalSteps; step++)
        {
            if (StopRequested(cancel))
            {
                bool save = output.CheckpointPath is not null && savedAt != Optimizer.Step;
                if (save) Save();
                progress?.Finish();
                throw new TrainingInterruptedException(Optimizer.Step, output.CheckpointPath is not null && Optimizer.Step > 0, cancel);
            }
            if (index == PlanEpoch(epoch).Count) (epoch, index) = (epoch + 1, 0);
            var steps = PlanEpoch(epoch);
            var report = Step(steps[index++]) with { Epoch = epoch + (double)index / steps.Count };
            tokens += report.Tokens;
            first ??= report;
            last = report;
            if (output.Metrics is not null && (step % Options.LogEvery == 0 || step == TotalSteps)) Log(output, report);
            progress?.Report(new ProgressUpdate(step)
            {
                Loss = report.Metrics.Loss,
                LearningRate = report.LearningRate,
                GradNorm = report.GradNorm,
                TokensPerSecond = tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
            });
            Stepped?.Invoke(report);
            if (step < TotalSteps && _heldOut.Length > 0 && Options.EvalEvery > 0 && step % Options.EvalEvery == 0) EvaluateHeldOut();
            if (output.CheckpointPath is not null && (step == TotalSteps || (Options.CheckpointEvery > 0 && step % Options.CheckpointEvery == 0))) Save();
        }
        // The trained model leaves whole on every rank, whatever its optimizer kept of it.
        Optimizer.GatherWeights();
        if (_heldOut.Length > 0 && evaluatedAt != Optimizer.Step) EvaluateHeldOut();
        progress?.Finish();
        return new TrainingSummary<TMetrics>(Optimizer.Step, resumedFrom, first, last, heldOut, tokens, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Disposes the optimizer, and the objective when it is disposable.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        (_objective as IDisposable)?.Dispose();
    }

    private static void Log(TrainingOutput output, StepReport<TMetrics> report)
    {
        string prefix = output.MetricsPrefix;
        var values = report.Metrics.Named().Select(m => KeyValuePair.Create(prefix + m.Key, m.Value)).Concat(
        [
            KeyValuePair.Create(prefix + "grad_norm", report.GradNorm),
            KeyValuePair.Create(prefix + "learning_rate", report.LearningRate),
            KeyValuePair.Create(prefix + "epoch", report.Epoch),
            KeyValuePair.Create(prefix + "tokens", (double)report.Tokens),
            KeyValuePair.Create(prefix + "tokens_per_s", report.Tokens / Math.Max(report.Seconds, 1e-9)),
        ]);
        output.Metrics!.Write(report.Step, values);
    }
}
