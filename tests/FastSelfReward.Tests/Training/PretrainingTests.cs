using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Reporting;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class PretrainingTests
{
    private static readonly LlamaConfig Config = TinyModels.Config();

    // Nine examples in steps of at most 16 tokens: about four steps an epoch, so a nine-step run
    // crosses epochs and the saved cursors land inside and at the end of one.
    private static readonly List<LmExample> Examples =
        TinyModels.Sequences(Config.VocabSize, 5, 7, 9, 4, 6, 8, 5, 3, 9, 6).Select(t => new LmExample(t)).ToList();

    private static readonly PretrainOptions Plan = new()
    {
        Steps = 9, BatchTokens = 16, LearningRate = 1e-2, WarmupSteps = 2, CheckpointEvery = 2,
    };

    private static (float[] Weights, TrainingSummary<LmMetrics> Result) Train(PretrainOptions plan, string? state, IProgressSink? progress = null,
        CancellationToken cancel = default, List<LmExample>? examples = null)
    {
        using var kernels = new CpuKernels();
        using var model = TinyModels.Create(kernels, Config, DType.F32);
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), examples ?? Examples, plan, seed: 3);
        var result = training.Run(new TrainingOutput { CheckpointPath = state, Progress = progress ?? new PlainProgress(TextWriter.Null) }, cancel);
        var weights = new float[model.Layout.TotalLength];
        kernels.Download(model.Parameters, weights);
        return (weights, result);
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void A_run_stopped_midway_resumes_from_its_last_state_to_the_weights_of_an_uninterrupted_run()
    {
        using var dir = new ScratchFolder();
        string state = dir.File("state.safetensors");
        var (whole, wholeResult) = Train(Plan, null);
        Assert.Null(wholeResult.ResumedFrom);

        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Train(Plan, state, new CancelAt(6, stop), stop.Token));
        Assert.True(File.Exists(state), "no state was saved before the stop");

        var (resumed, result) = Train(Plan, state);
        Assert.Equal(6, result.ResumedFrom);
        Assert.Equal(9, result.Steps);
        Assert.Equal(whole.Select(BitConverter.SingleToInt32Bits), resumed.Select(BitConverter.SingleToInt32Bits));

        var other = Assert.Throws<InvalidDataException>(() => Train(Plan with { LearningRate = 2e-2 }, state));
        Assert.Contains("another configuration or dataset", other.Message);
        // The same tokens with a loss mask (the first token of the first example left out) are other data.
        var masked = Examples.Select((e, i) => i > 0 ? e : e with { LossMask = [.. e.Tokens.Select((_, t) => t > 1)] }).ToList();
        Assert.Throws<InvalidDataException>(() => Train(Plan, state, examples: masked));
    }

    /// <summary>Cancels once the run reports step <paramref name="step"/> done.</summary>
    private sealed class CancelAt(long step, CancellationTokenSource source) : IProgressSink
    {
        public void Start(long total, string label) { }
        public void Report(ProgressUpdate update) { if (update.Completed >= step) source.Cancel(); }
        public void Warn(string message) { }
        public void Finish() { }
        public void Dispose() { }
    }
}
