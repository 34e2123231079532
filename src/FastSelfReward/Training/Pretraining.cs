using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Distributed;
using FastSelfReward.Model;
using FastSelfReward.Reporting;

namespace FastSelfReward.Training;

/// <summary>
/// Causal-LM training of a model into a Hugging Face checkpoint folder (<c>fsr train-lm</c>): the
/// folder holds the metrics and, while the run is unfinished, its training state, from which a
/// rerun resumes; at the end the model and tokenizer files are saved there and the state removed.
/// </summary>
/// <remarks>
/// The model is written whole beside the folder's files and renamed into place, weights last
/// (<see cref="ModelCheckpoint.SaveInto"/>), and the state goes only after that: a kill at any
/// moment leaves the state (a rerun resumes, or only saves again) or the finished model.
/// </remarks>
public static class Pretraining
{
    /// <summary>The metrics file in the output folder.</summary>
    public const string MetricsFileName = "metrics.jsonl";

    /// <summary>The training state in the output folder while a run is unfinished.</summary>
    public const string StateFileName = "train-state.safetensors";

    /// <summary>The record of a finished run in the output folder: the fingerprint of what it trained.</summary>
    public const string RecordFileName = "train-lm.json";

    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="examples"/> and saves it into
    /// <paramref name="folder"/>. A folder that already holds this very run's finished model is left
    /// as it is, and null returned.
    /// </summary>
    /// <param name="model">The model, initialised (its weights are replaced by a resumed state's).</param>
    /// <param name="examples">The training set.</param>
    /// <param name="options">Length, schedule, batching and cadences.</param>
    /// <param name="seed">Seeds the data order.</param>
    /// <param name="folder">The checkpoint folder (created when absent).</param>
    /// <param name="tokenizerFolder">The folder whose tokenizer files go with the model.</param>
    /// <param name="progress">Receives every step.</param>
    /// <param name="cancel">Stops the run at the next step boundary, its state saved (<see cref="TrainingInterruptedException"/>).</param>
    /// <param name="overwrite">Replace a model the folder holds that another run (or no train-lm) made.</param>
    /// <param name="world">The ranks training together, data-parallel; rank 0 alone holds the folder and writes to it. Null: this process alone.</param>
    /// <param name="shardOptimizer">Above one rank, each rank keeps its range of the optimizer's moments only (ZeRO-1).</param>
    /// <exception cref="InvalidDataException">The folder's state belongs to another model, data, options or seed.</exception>
    /// <exception cref="FolderInUseException">Another process has the folder.</exception>
    /// <exception cref="ModelFolderTakenException">The folder holds another model and <paramref name="overwrite"/> is false.</exception>
    public static TrainingSummary<LmMetrics>? Run(LlamaModel model, IReadOnlyList<LmExample> examples, PretrainOptions options, int seed,
        string folder, string tokenizerFolder, IProgressSink progress, CancellationToken cancel = default, bool overwrite = false,
        Communicator? world = null, bool shardOptimizer = true)
    {
        world ??= Communicator.Single;
        using var hold = world.IsRoot ? FolderLock.Acquire(folder) : null;
        string state = Path.Combine(folder, StateFileName), record = Path.Combine(folder, RecordFileName);
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, options, seed, world, shardOptimizer);
        bool finished = File.Exists(Path.Combine(folder, CheckpointFolder.SingleFileName)) && !File.Exists(state);
        var recorded = finished && File.Exists(record) ? JsonSerializer.Deserialize<Record>(File.ReadAllText(record)) : null;
        // Every rank decides from the folder as it was before anyone writes to it.
        world.Barrier();
        if (finished)
        {
            if (recorded == new Record(training.Fingerprint, seed)) return null;
            if (!overwrite)
                throw new ModelFolderTakenException($"{folder} holds {(recorded is null ? "a model train-lm did not make" : "a model trained on other data or settings")}; " +
                                                    "training would replace it");
            if (world.IsRoot)
                foreach (string file in new[] { CheckpointFolder.SingleFileName, CheckpointFolder.IndexFileName, LlamaConfigJson.FileName, MetricsFileName, RecordFileName })
                    File.Delete(Path.Combine(folder, file));
        }
        TrainingSummary<LmMetrics> summary;
        using (var metrics = world.IsRoot ? MetricsLog.Open(Path.Combine(folder, MetricsFileName)) : null)
            summary = training.Run(new TrainingOutput { CheckpointPath = state, Progress = progress, Label = "train-lm step", Metrics = metrics }, cancel);
        if (!world.IsRoot) return summary;
        ModelCheckpoint.SaveInto(model, folder, tokenizerFolder);
        Data.AtomicFile.WriteAllText(record, JsonSerializer.Serialize(new Record(training.Fingerprint, seed)));
        // The finished model supersedes the state, which is three times its size.
        File.Delete(state);
        return summary;
    }

    private sealed record Record(string Fingerprint, int Seed);
}

/// <summary>An output folder holds a model that a training run would replace (<see cref="Pretraining.Run"/>).</summary>
public sealed class ModelFolderTakenException(string message) : InvalidOperationException(message);
