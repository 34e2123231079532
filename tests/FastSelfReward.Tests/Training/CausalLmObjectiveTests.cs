using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class CausalLmObjectiveTests
{
    [Fact]
    public void TinyModelOverfitsAFixedSequence()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 23);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.1);
        var sequence = new LmExample(TinyModels.Sequences(config.VocabSize, 1, 24)[0]);
        using var trainer = Run(model, [sequence], new PretrainOptions { Steps = 300, LearningRate = 1e-2, MinLearningRate = 1e-3, WarmupSteps = 10, WeightDecay = 0 });

        double first = 0, last = double.NaN;
        for (int step = 1; step <= 300; step++)
        {
            var report = trainer.Step([[sequence]]);
            if (step == 1) first = report.Metrics.Loss;
            last = report.Metrics.Loss;
            if (last < 0.05) break;
        }
        Assert.True(first > 2.0, $"initial loss {first} should be near ln(vocab) = {Math.Log(config.VocabSize):F2}");
        Assert.True(last < 0.05, $"loss after training is {last}");
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void MicroBatchesGiveTheGradientOfOneBatch()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var random = new Random(4);
        // Four examples of different lengths and masks, so the per-micro-batch token counts differ.
        var examples = TinyModels.Sequences(config.VocabSize, 9, 7, 3, 10, 5)
            .Select(t => new LmExample(t, t.Select((_, i) => i == 1 || random.NextDouble() < 0.7).ToArray()))
            .ToArray();
        using var trainer = Run(model, examples);

        model.ZeroGradients();
        double lossWhole = trainer.AccumulateGradients([examples]).Loss;
        var whole = TinyModels.Download(kernels, model.Gradients);

        model.ZeroGradients();
        double lossSplit = trainer.AccumulateGradients([examples[..2], examples[2..]]).Loss;
        var split = TinyModels.Download(kernels, model.Gradients);

        Assert.Equal(lossWhole, lossSplit, 1e-12);
        Assert.Contains(whole, g => Math.Abs(g) > 1e-6);
        for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], split[i], 1e-12);
    }

    [Fact]
    public void MaskedOutTargetsDoNotAffectTheLossOrGradient()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var tokens = TinyModels.Sequences(config.VocabSize, 2, 8)[0];
        var mask = new[] { false, false, false, false, true, true, true, true };
        // Changing the last token changes only its own target, which the second mask excludes.
        var other = (int[])tokens.Clone();
        other[7] = (other[7] + 1) % config.VocabSize;
        var withoutLast = new[] { false, false, false, false, true, true, true, false };
        using var trainer = Run(model, [new LmExample(tokens, mask)]);

        model.ZeroGradients();
        double a = trainer.AccumulateGradients([[new LmExample(tokens, withoutLast)]]).Loss;
        var gradA = TinyModels.Download(kernels, model.Gradients);
        model.ZeroGradients();
        double b = trainer.AccumulateGradients([[new LmExample(other, withoutLast)]]).Loss;
        var gradB = TinyModels.Download(kernels, model.Gradients);
        model.ZeroGradients();
        double c = trainer.AccumulateGradients([[new LmExample(other, mask)]]).Loss;

        Assert.Equal(a, b, 1e-14);
        for (int i = 0; i < gradA.Length; i++) Assert.Equal(gradA[i], gradB[i], 1e-14);
        Assert.NotEqual(b, c, 1e-6);
    }

    [Fact]
    public void ClippingCapsTheUpdateNotTheReportedNorm()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var example = new LmExample(TinyModels.Sequences(config.VocabSize, 3, 9)[0]);
        using var trainer = Run(model, [example], new PretrainOptions { Steps = 1, LearningRate = 1e-3, MaxGradNorm = 1e-3 });
        var report = trainer.Step([[example]]);
        Assert.True(report.GradNorm > 1e-3, $"unclipped norm {report.GradNorm} should exceed the clip");
        Assert.Equal(1, trainer.Optimizer.Step);
    }

    [Theory]
    [InlineData(1, 1e-4)]
    [InlineData(10, 1e-3)]
    [InlineData(55, 5.5e-4)]
    [InlineData(100, 1e-4)]
    [InlineData(150, 1e-4)]
    public void WarmupThenCosine(int step, double expected)
    {
        var schedule = new LearningRateSchedule(1e-3, 1e-4, 10, 100);
        Assert.Equal(expected, schedule.At(step), 1e-12);
    }

    [Fact]
    public void TokenStepsAreDeterministicAndRespectTheTokenBudget()
    {
        var examples = Enumerable.Range(1, 20).Select(n => new LmExample(new int[n])).ToArray();
        var shape = new TokenSteps(BatchTokens: 60, MicroBatchTokens: 30);
        List<List<LmExample[]>> Epoch(int epoch) => StepPlan.Epoch(examples, e => e.Tokens.Length, shape, seed: 1, epoch);
        var a = Epoch(0);
        string Order(List<List<LmExample[]>> steps) => string.Join(",", steps.SelectMany(s => s.SelectMany(m => m.Select(e => e.Tokens.Length))));
        Assert.Equal(Order(a), Order(Epoch(0)));
        Assert.NotEqual(Order(a), Order(Epoch(1)));
        Assert.Equal(20, a.Sum(s => s.Sum(m => m.Length)));
        Assert.All(a.SelectMany(s => s), m => Assert.True(m.Length == 1 || m.Sum(e => e.Tokens.Length) <= 30));
        Assert.All(a.Take(a.Count - 1), s => Assert.Equal(2, s.Count));
    }

    /// <summary>A run over <paramref name="examples"/> whose steps the test takes itself.</summary>
    private static TrainingRun<LmExample, LmMetrics> Run(LlamaModel model, LmExample[] examples, PretrainOptions? options = null) =>
        TrainingRun.Create(model, new CausalLmObjective(model), examples, options ?? new PretrainOptions { Steps = 1, LearningRate = 1e-3, MinLearningRate = 1e-3, WeightDecay = 0 }, seed: 0);
}
