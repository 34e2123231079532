using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class CausalLmTrainerTests
{
    [Fact]
    public void TinyModelOverfitsAFixedSequence()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 23);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.1);
        using var optimizer = new AdamWOptimizer(model, new AdamWOptions { MaxGradNorm = 1.0 });
        var trainer = new CausalLmTrainer(model, optimizer, new LearningRateSchedule(1e-2, 1e-3, 10, 300));
        var sequence = new LmExample(TinyModels.Sequences(config.VocabSize, 1, 24)[0]);

        double first = 0, last = double.NaN;
        for (int step = 1; step <= 300; step++)
        {
            var metrics = trainer.Step([[sequence]]);
            if (step == 1) first = metrics.Loss;
            last = metrics.Loss;
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
        using var optimizer = new AdamWOptimizer(model, new AdamWOptions());
        var trainer = new CausalLmTrainer(model, optimizer, new LearningRateSchedule(1e-3, 1e-3, 0, 1));
        var random = new Random(4);
        // Four examples of different lengths and masks, so the per-micro-batch token counts differ.
        var examples = TinyModels.Sequences(config.VocabSize, 9, 7, 3, 10, 5)
            .Select(t => new LmExample(t, t.Select(_ => random.NextDouble() < 0.7).ToArray()))
            .ToArray();

        model.ZeroGradients();
        double lossWhole = trainer.AccumulateGradients([examples]);
        var whole = TinyModels.Download(kernels, model.Gradients);

        model.ZeroGradients();
        double lossSplit = trainer.AccumulateGradients([examples[..2], examples[2..]]);
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
        using var optimizer = new AdamWOptimizer(model, new AdamWOptions());
        var trainer = new CausalLmTrainer(model, optimizer, new LearningRateSchedule(1e-3, 1e-3, 0, 1));
        var tokens = TinyModels.Sequences(config.VocabSize, 2, 8)[0];
        var mask = new[] { false, false, false, false, true, true, true, true };
        // Changing the last token changes only its own target, which the second mask excludes.
        var other = (int[])tokens.Clone();
        other[7] = (other[7] + 1) % config.VocabSize;
        var withoutLast = new[] { false, false, false, false, true, true, true, false };

        model.ZeroGradients();
        double a = trainer.AccumulateGradients([[new LmExample(tokens, withoutLast)]]);
        var gradA = TinyModels.Download(kernels, model.Gradients);
        model.ZeroGradients();
        double b = trainer.AccumulateGradients([[new LmExample(other, withoutLast)]]);
        var gradB = TinyModels.Download(kernels, model.Gradients);
        model.ZeroGradients();
        double c = trainer.AccumulateGradients([[new LmExample(other, mask)]]);

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
        using var optimizer = new AdamWOptimizer(model, new AdamWOptions { MaxGradNorm = 1e-3 });
        var trainer = new CausalLmTrainer(model, optimizer, new LearningRateSchedule(1e-3, 1e-3, 0, 1));
        var metrics = trainer.Step([[new LmExample(TinyModels.Sequences(config.VocabSize, 3, 9)[0])]]);
        Assert.True(metrics.GradNorm > 1e-3, $"unclipped norm {metrics.GradNorm} should exceed the clip");
        Assert.Equal(1, optimizer.Step);
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
    public void MicroBatcherIsDeterministicAndRespectsTheTokenBudget()
    {
        var examples = Enumerable.Range(1, 20).Select(n => new LmExample(new int[n])).ToArray();
        var a = MicroBatcher.Epoch(examples, microBatchTokens: 30, accumulation: 2, seed: 1, epoch: 0);
        var b = MicroBatcher.Epoch(examples, microBatchTokens: 30, accumulation: 2, seed: 1, epoch: 0);
        var c = MicroBatcher.Epoch(examples, microBatchTokens: 30, accumulation: 2, seed: 1, epoch: 1);
        string Order(List<List<List<LmExample>>> steps) => string.Join(",", steps.SelectMany(s => s.SelectMany(m => m.Select(e => e.Tokens.Length))));
        Assert.Equal(Order(a), Order(b));
        Assert.NotEqual(Order(a), Order(c));
        Assert.Equal(20, a.Sum(s => s.Sum(m => m.Count)));
        Assert.All(a.SelectMany(s => s), m => Assert.True(m.Count == 1 || m.Sum(e => e.Tokens.Length) <= 30));
        Assert.All(a.Take(a.Count - 1), s => Assert.Equal(2, s.Count));
    }
}
