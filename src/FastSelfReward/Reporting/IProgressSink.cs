namespace FastSelfReward.Reporting;

/// <summary>
/// Where a long-running stage (training, generation, judging) reports how far it is. A sink shows one
/// task at a time: <see cref="Start"/>, any number of <see cref="Report"/> calls, then
/// <see cref="Finish"/>; it works out the elapsed time and the ETA itself.
/// </summary>
public interface IProgressSink : IDisposable
{
    /// <summary>Begins a task of <paramref name="total"/> units (steps, prompts, ...) named <paramref name="label"/>.</summary>
    void Start(long total, string label);

    /// <summary>Records that <see cref="ProgressUpdate.Completed"/> units are done, with the metrics the caller has.</summary>
    void Report(ProgressUpdate update);

    /// <summary>Shows a warning that must not be missed (on its own line, marked as one), without ending the task.</summary>
    void Warn(string message);

    /// <summary>Ends the task; the display keeps its final state.</summary>
    void Finish();
}

/// <summary>A progress report: units completed so far and, when the stage has them, the latest metrics.</summary>
/// <param name="Completed">Units done so far (of the total given to <see cref="IProgressSink.Start"/>).</param>
public readonly record struct ProgressUpdate(long Completed)
{
    /// <summary>Training loss of the latest step.</summary>
    public double? Loss { get; init; }

    /// <summary>Learning rate of the latest step.</summary>
    public double? LearningRate { get; init; }

    /// <summary>Gradient norm (before clipping) of the latest step.</summary>
    public double? GradNorm { get; init; }

    /// <summary>Throughput in tokens per second.</summary>
    public double? TokensPerSecond { get; init; }
}
