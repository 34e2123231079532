using FastSelfReward.Training;

namespace FastSelfReward.Reporting;

/// <summary>
/// A progress sink in front of another that watches every task's gradient norms
/// (<see cref="GradientNormWatch"/>) and, the first time a task's norms explode, has the sink it
/// wraps show a warning that says where, by how much, and what to check. Every stage that trains
/// (pretraining, SFT, DPO) reports its norms through progress, so wrapping the sink a command
/// creates covers them all.
/// </summary>
public sealed class TrainingHealthProgress(IProgressSink inner) : IProgressSink
{
    private GradientNormWatch _watch = new();
    private string _label = "";

    public void Start(long total, string label)
    {
        _watch = new GradientNormWatch();
        _label = label;
        inner.Start(total, label);
    }

    public void Report(ProgressUpdate update)
    {
        inner.Report(update);
        if (update.GradNorm is double norm && _watch.Observe(update.Completed, norm, update.Loss) is string problem)
            inner.Warn($"training is diverging in {_label}: {problem}. Its results will be worthless; check the BLAS " +
                "(fsr info names it; FSR_BLAS=openblas-openmp or none picks another, docs/blas.md), then the learning rate and warm-up.");
    }

    public void Warn(string message) => inner.Warn(message);

    public void Finish() => inner.Finish();

    public void Dispose() => inner.Dispose();
}
