using FastSelfReward.Checkpoints;
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

    /// <summary>Trains <paramref name="model"/> on <paramref name="examples"/> and saves it into <paramref name="folder"/>.</summary>
    /// <param name="model">The model, initialised (its weights are replaced by a resumed state's).</param>
    /// <param name="examples">The training set.</param>
    /// <param name="options">Length, schedule, batching and cadences.</param>
    /// <param name="seed">Seeds the data order.</param>
    /// <param name="folder">The checkpoint folder (created when absent).</param>
    /// <param name="tokenizerFolder">The folder whose tokenizer files go with the model.</param>
    /// <param name="progress">Receives every step.</param>
    /// <param name="cancel">Checked between steps; a cancelled run keeps its last state, as a killed one.</param>
    /// <exception cref="InvalidDataException">The folder's state belongs to another model, data, options or seed.</exception>
    /// <exception cref="FolderInUseException">Another process has the folder.</exception>
    public static TrainingSummary<LmMetrics> Run(LlamaModel model, IReadOnlyList<LmExample> examples, PretrainOptions options, int seed,
        string folder, string tokenizerFolder, IProgressSink progress, CancellationToken cancel = default)
    {
        using var hold = FolderLock.Acquire(folder);
        string state = Path.Combine(folder, StateFileName);
        TrainingSummary<LmMetrics> summary;
        using (var metrics = MetricsLog.Open(Path.Combine(folder, MetricsFileName)))
        using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, options, seed))
            summary = training.Run(new TrainingOutput { CheckpointPath = state, Progress = progress, Label = "train-lm step", Metrics = metrics }, cancel);
        ModelCheckpoint.SaveInto(model, folder, tokenizerFolder);
        // The finished model supersedes the state, which is three times its size.
        File.Delete(state);
        return summary;
    }
}
