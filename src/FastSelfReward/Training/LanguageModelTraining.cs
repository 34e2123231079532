using System.Diagnostics;
using FastSelfReward.Model;
using FastSelfReward.Reporting;

namespace FastSelfReward.Training;

/// <summary>How long and how a <see cref="LanguageModelTraining"/> run trains.</summary>
public sealed record TrainingPlan
{
    /// <summary>Optimizer steps; when null, <see cref="Epochs"/> whole passes over the data.</summary>
    public int? Steps { get; init; }

    /// <summary>Passes over the data when <see cref="Steps"/> is null.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Peak learning rate, reached after warmup.</summary>
    public double LearningRate { get; init; } = 3e-4;

    /// <summary>Learning rate at the end of the cosine decay; a tenth of the peak when null.</summary>
    public double? MinLearningRate { get; init; }

    /// <summary>Linear warmup steps; a tenth of the run, at most 100, when null.</summary>
    public int? WarmupSteps { get; init; }

    /// <summary>Tokens per optimizer step (at most; examples are not split across steps).</summary>
    public int BatchTokens { get; init; } = 8192;

    /// <summary>Tokens per forward/backward pass; <see cref="BatchTokens"/> when null. Smaller values trade speed for memory.</summary>
    public int? MicroBatchTokens { get; init; }

    /// <summary>Seeds the per-epoch shuffle.</summary>
    public int Seed { get; init; }

    /// <summary>A metrics record every this many steps (the last step is always logged).</summary>
    public int LogEvery { get; init; } = 1;

    /// <summary>
    /// Save the training state every this many steps when the run has a checkpoint path (0: never);
    /// a killed run resumes from the last one.
    /// </summary>
    public int CheckpointEvery { get; init; }

    public AdamWOptions Optimizer { get; init; } = new() { WeightDecay = 0.1 };

    /// <summary>Throws naming the field when a value is out of range.</summary>
    public TrainingPlan Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(Steps is null or > 0, $"steps must be positive, got {Steps}");
        Require(Epochs > 0, $"epochs must be positive, got {Epochs}");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"learning rate must be positive, got {LearningRate}");
        Require(MinLearningRate is null or >= 0, $"minimum learning rate must be ≥ 0, got {MinLearningRate}");
        Require(WarmupSteps is null or >= 0, $"warmup steps must be ≥ 0, got {WarmupSteps}");
        Require(BatchTokens > 0, $"batch tokens must be positive, got {BatchTokens}");
        Require(MicroBatchTokens is null or > 0, $"micro-batch tokens must be positive, got {MicroBatchTokens}");
        Require(LogEvery > 0, $"log interval must be positive, got {LogEvery}");
        Require(CheckpointEvery >= 0, $"checkpoint interval must be ≥ 0, got {CheckpointEvery}");
        return this;
    }
}

/// <summary>What a training run did.</summary>
/// <param name="Steps">The run's last optimizer step.</param>
/// <param name="FirstLoss">Loss of the first step this process took.</param>
/// <param name="LastLoss">Loss of the last step.</param>
/// <param name="Tokens">Tokens this process processed.</param>
/// <param name="Seconds">Wall time of this process's steps.</param>
/// <param name="ResumedFrom">The step of the training state the run resumed from; null for a fresh run.</param>
public sealed record TrainingResult(long Steps, double FirstLoss, double LastLoss, long Tokens, double Seconds, long? ResumedFrom = null);

/// <summary>
/// Trains a model on causal-LM examples (loss masks honoured, so pretraining and instruction tuning
/// share it): epochs shuffled by <see cref="MicroBatcher"/>, warmup + cosine learning rate, AdamW,
/// metrics to a JSONL log and progress to a sink. With a checkpoint path it saves the training state
/// (weights, AdamW moments, step, data cursor) every <see cref="TrainingPlan.CheckpointEvery"/> steps
/// and, when that file exists at the start, resumes from it: the rest of the run is then the one an
/// uninterrupted run would have taken, to the bit.
/// </summary>
public static class LanguageModelTraining
{
    /// <summary>Runs <paramref name="plan"/> on <paramref name="model"/>, updating its parameters in place.</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="examples">The training set; its order does not matter (each epoch is shuffled).</param>
    /// <param name="plan">Steps, learning rate, batch sizes and seed.</param>
    /// <param name="progress">Receives every step's loss, learning rate, gradient norm and throughput.</param>
    /// <param name="metrics">Receives a record every <see cref="TrainingPlan.LogEvery"/> steps, or null.</param>
    /// <param name="label">Names the task in the progress display.</param>
    /// <param name="checkpointPath">The training-state file to resume from and save to; null for none.</param>
    /// <param name="cancel">Checked before each step; a cancelled run stops as a killed one would.</param>
    /// <exception cref="InvalidDataException">The state file belongs to another model, plan, data or seed.</exception>
    public static TrainingResult Run(LlamaModel model, IReadOnlyList<LmExample> examples, TrainingPlan plan,
        IProgressSink progress, MetricsLog? metrics, string label = "train", string? checkpointPath = null,
        CancellationToken cancel = default)
    {
        plan.Validate();
        if (examples.Count == 0) throw new ArgumentException("no training examples");
        int micro = Math.Min(plan.MicroBatchTokens ?? plan.BatchTokens, plan.BatchTokens);
        int accumulation = (plan.BatchTokens + micro - 1) / micro;
        List<List<List<LmExample>>> Epoch(int epoch) => MicroBatcher.Epoch(examples, micro, accumulation, plan.Seed, epoch);

        long total = plan.Steps ?? Enumerable.Range(0, plan.Epochs).Sum(e => (long)Epoch(e).Count);
        int warmup = plan.WarmupSteps ?? (int)Math.Min(100, total / 10);
        var schedule = new LearningRateSchedule(plan.LearningRate, plan.MinLearningRate ?? plan.LearningRate / 10, warmup, (int)total);
        using var optimizer = new AdamWOptimizer(model, plan.Optimizer);
        var trainer = new CausalLmTrainer(model, optimizer, schedule);

        string fingerprint = Fingerprint(model, examples, plan);
        var cursor = new TrainingCursor(0, 0);
        long? resumedFrom = null;
        if (checkpointPath is not null && File.Exists(checkpointPath))
        {
            var state = TrainingCheckpoint.Load(checkpointPath, model, optimizer, plan.Seed, fingerprint);
            (cursor, resumedFrom) = (state.Cursor, state.Step);
        }

        var clock = Stopwatch.StartNew();
        long tokens = 0;
        double firstLoss = double.NaN, lastLoss = double.NaN;
        progress.Start(total, label);
        int epochIndex = cursor.Epoch;
        var steps = Epoch(epochIndex);
        int next = cursor.StepInEpoch;
        for (long step = (resumedFrom ?? 0) + 1; step <= total; step++)
        {
            cancel.ThrowIfCancellationRequested();
            if (next == steps.Count)
            {
                steps = Epoch(++epochIndex);
                next = 0;
            }
            StepMetrics m = trainer.Step(steps[next++]);
            tokens += m.Tokens;
            if (double.IsNaN(firstLoss)) firstLoss = m.Loss;
            lastLoss = m.Loss;
            // The last step's state is the finished model, which the caller saves.
            if (checkpointPath is not null && plan.CheckpointEvery > 0 && step % plan.CheckpointEvery == 0 && step < total)
                TrainingCheckpoint.Save(checkpointPath, model, optimizer, new TrainingCursor(epochIndex, next), plan.Seed, fingerprint);
            if (metrics is not null && (step % plan.LogEvery == 0 || step == total))
                metrics.Write(step,
                [
                    new("epoch", epochIndex + (double)next / steps.Count),
                    new("loss", m.Loss),
                    new("learning_rate", m.LearningRate),
                    new("grad_norm", m.GradNorm),
                    new("tokens", m.Tokens),
                    new("tokens_per_s", m.Tokens / Math.Max(m.Seconds, 1e-9)),
                ]);
            progress.Report(new ProgressUpdate(step)
            {
                Loss = m.Loss,
                LearningRate = m.LearningRate,
                GradNorm = m.GradNorm,
                TokensPerSecond = tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9),
            });
        }
        progress.Finish();
        return new TrainingResult(total, firstLoss, lastLoss, tokens, clock.Elapsed.TotalSeconds, resumedFrom);
    }

    /// <summary>What a saved state must match to be resumed: the architecture, every example, and the plan but for its cadences.</summary>
    private static string Fingerprint(LlamaModel model, IReadOnlyList<LmExample> examples, TrainingPlan plan)
    {
        using var fingerprint = new Fingerprint("fsr-train-lm/1").AddJson(model.Config).AddJson(plan with { LogEvery = 1, CheckpointEvery = 0 })
            .Add(examples.Count);
        // No mask (every token after the first) hashes as an empty one, which no valid example has.
        foreach (var example in examples) fingerprint.Add(example.Tokens).Add(example.LossMask ?? []);
        return fingerprint.Hex();
    }
}
