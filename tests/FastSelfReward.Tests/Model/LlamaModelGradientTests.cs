using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Model;

/// <summary>
/// The whole model's backward against central finite differences, in double precision, on a tiny
/// configuration with grouped-query attention, a ragged batch, a loss mask and either tied or
/// untied embeddings.
/// </summary>
public sealed class LlamaModelGradientTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BackwardMatchesFiniteDifferences(bool tied)
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config(tied);
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var sequences = TinyModels.Sequences(config.VocabSize, seed: 3, 5, 1, 7);
        var batch = TokenBatch.Pack(sequences);
        var random = new Random(11);
        var targets = new int[batch.Count];
        var weights = new double[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            // Every fourth row is masked out: it must contribute nothing.
            targets[i] = i % 4 == 3 ? -1 : random.Next(config.VocabSize);
            weights[i] = targets[i] < 0 ? 0 : random.NextDouble() - 0.5;
        }

        double Loss()
        {
            model.Forward(batch, training: false);
            var logp = new double[batch.Count];
            model.TokenLogProbs(targets, logp);
            return logp.Select((lp, i) => lp * weights[i]).Sum();
        }

        model.ZeroGradients();
        model.Forward(batch, training: true);
        model.Backward(targets, weights, new double[batch.Count]);
        var analytic = TinyModels.Download(kernels, model.Gradients);

        int checkedCount = TinyModels.AssertGradientMatchesFiniteDifferences(model, analytic, Loss);
        Assert.True(checkedCount > 3 * 9 * config.NumHiddenLayers);
    }

    [Fact]
    public void BackwardAccumulatesIntoParameterGradients()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var batch = TokenBatch.Pack(TinyModels.Sequences(config.VocabSize, 5, 6));
        var targets = batch.Tokens.Skip(1).Append(-1).ToArray();
        var weights = targets.Select(t => t < 0 ? 0.0 : -1.0).ToArray();

        model.ZeroGradients();
        model.Forward(batch);
        model.Backward(targets, weights, new double[batch.Count]);
        var once = TinyModels.Download(kernels, model.Gradients);
        model.Forward(batch);
        model.Backward(targets, weights, new double[batch.Count]);
        var twice = TinyModels.Download(kernels, model.Gradients);

        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 1e-12);
    }
}
