using FastSelfReward.Compute;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class TrainingCheckpointTests
{
    [Fact]
    public void RestoresWeightsMomentsStepAndCursor()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var dir = new ScratchFolder();
        string path = dir.File("state.safetensors");

        using var model = TinyModels.Create(kernels, config, DType.F32, seed: 1);
        LmExample[] examples = [new(TinyModels.Sequences(config.VocabSize, 2, 9)[0]), new(TinyModels.Sequences(config.VocabSize, 3, 7)[0])];
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, new PretrainOptions { Steps = 10 }, seed: 0);
        var optimizer = training.Optimizer;
        training.Step([examples[..1]]);
        training.Step([examples[1..]]);
        TrainingCheckpoint.Save(path, model, optimizer, null, new TrainingCursor(1, 4), seed: 9, fingerprint: "abc");
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));

        using var restored = TinyModels.Create(kernels, config, DType.F32, seed: 2);
        using var restoredOptimizer = new AdamWOptimizer(restored, new AdamWOptions());
        var state = TrainingCheckpoint.Load(path, restored, restoredOptimizer, seed: 9, fingerprint: "abc");

        Assert.Equal(new TrainingState(2, new TrainingCursor(1, 4)), state);
        Assert.Equal(2, restoredOptimizer.Step);
        Assert.Equal(TinyModels.Download(kernels, model.Parameters), TinyModels.Download(kernels, restored.Parameters));
        Assert.Equal(TinyModels.Download(kernels, optimizer.FirstMoments), TinyModels.Download(kernels, restoredOptimizer.FirstMoments));
        Assert.Equal(TinyModels.Download(kernels, optimizer.SecondMoments), TinyModels.Download(kernels, restoredOptimizer.SecondMoments));

        Assert.Contains("seed", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, restored, restoredOptimizer, 8, "abc")).Message);
        Assert.Contains("fingerprint", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, restored, restoredOptimizer, 9, "abd")).Message);
        using var wider = TinyModels.Create(kernels, config with { VocabSize = 20 }, DType.F32);
        using var widerOptimizer = new AdamWOptimizer(wider, new AdamWOptions());
        Assert.Contains("model.embed_tokens.weight", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, wider, widerOptimizer, 9, "abc")).Message);
    }
}
