using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>When a run evaluates and checkpoints, and for how many epochs it trains.</summary>
/// <param name="Epochs">Passes over the training data.</param>
/// <param name="EvalEvery">Evaluate every this many optimizer steps (0: only at the end).</param>
/// <param name="CheckpointEvery">Save the training state every this many steps (0: only at the end).</param>
/// <param name="Seed">Seeds the data order (and the held-out split of the trainers that make one).</param>
internal sealed record LoopSettings(int Epochs, int EvalEvery, int CheckpointEvery, int Seed);

/// <summary>
/// The epoch/step loop that SFT and DPO share: runs the steps of each epoch's plan from the cursor
/// on, logs each step, evaluates and saves <see cref="TrainingCheckpoint"/>s on schedule, and on a
/// second call with the same checkpoint path resumes where the last saved state left off.
/// </summary>
internal static class TrainingLoop
{
    /// <param name="model">The model being trained.</param>
    /// <param name="optimizer">Its optimizer (its step count is the run's step).</param>
    /// <param name="settings">Epochs, cadence and seed.</param>
    /// <param name="fingerprint">Digest of configuration and data, checked on resume.</param>
    /// <param name="stepsIn">Number of steps in an epoch's plan.</param>
    /// <param name="step">Takes step (epoch, index) and returns its train metrics.</param>
    /// <param name="evaluate">Evaluates on held-out data, or returns null when there is none.</param>
    /// <param name="checkpointPath">Training-state file: resumed from when it exists; null for none.</param>
    /// <param name="log">Receives every train and eval record.</param>
    /// <param name="cancel">Checked before each step; a cancelled run stops without saving, as a killed one would.</param>
    public static TrainingSummary Run(LlamaModel model, AdamWOptimizer optimizer, LoopSettings settings, string fingerprint,
        Func<int, int> stepsIn, Func<int, int, IReadOnlyDictionary<string, double>> step,
        Func<IReadOnlyDictionary<string, double>?> evaluate, string? checkpointPath, Action<MetricsRecord>? log, CancellationToken cancel)
    {
        var cursor = new TrainingCursor(0, 0);
        long? resumedFrom = null;
        if (checkpointPath is not null && File.Exists(checkpointPath))
        {
            var state = TrainingCheckpoint.Load(checkpointPath, model, optimizer, settings.Seed, fingerprint);
            cursor = state.Cursor;
            resumedFrom = state.Step;
        }

        IReadOnlyDictionary<string, double>? lastTrain = null, lastEval = null;
        long lastEvalStep = -1;
        void Evaluate(int epoch)
        {
            using var _ = Nvtx.Range("evaluate");
            lastEval = evaluate();
            lastEvalStep = optimizer.Step;
            if (lastEval is not null) log?.Invoke(new MetricsRecord("eval", optimizer.Step, epoch, lastEval));
        }

        int finalEpoch = Math.Max(0, settings.Epochs - 1);
        for (int epoch = cursor.Epoch; epoch < settings.Epochs; epoch++)
        {
            int steps = stepsIn(epoch);
            for (int index = epoch == cursor.Epoch ? cursor.StepInEpoch : 0; index < steps; index++)
            {
                cancel.ThrowIfCancellationRequested();
                lastTrain = step(epoch, index);
                log?.Invoke(new MetricsRecord("train", optimizer.Step, epoch, lastTrain));
                bool last = epoch == settings.Epochs - 1 && index == steps - 1;
                if (!last && settings.EvalEvery > 0 && optimizer.Step % settings.EvalEvery == 0) Evaluate(epoch);
                if (checkpointPath is not null && (last || (settings.CheckpointEvery > 0 && optimizer.Step % settings.CheckpointEvery == 0)))
                {
                    var next = index + 1 < steps ? new TrainingCursor(epoch, index + 1) : new TrainingCursor(epoch + 1, 0);
                    using var _ = Nvtx.Range("checkpoint");
                    TrainingCheckpoint.Save(checkpointPath, model, optimizer, next, settings.Seed, fingerprint);
                }
            }
        }
        if (lastEvalStep != optimizer.Step) Evaluate(finalEpoch);
        return new TrainingSummary(optimizer.Step, resumedFrom, lastTrain, lastEval);
    }
}
