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

        const double h = 1e-5;
        int checkedCount = 0;
        foreach (var entry in model.Layout.Entries)
        {
            // Three coordinates per tensor: its first, its last and one in between.
            foreach (long index in new[] { 0, entry.Count / 2 + 1, entry.Count - 1 }.Distinct())
            {
                var p = model.Parameters.Slice(entry.Offset + index, 1);
                var original = new double[1];
                kernels.Download(p, original);
                kernels.Upload(p, [original[0] + h]);
                double plus = Loss();
                kernels.Upload(p, [original[0] - h]);
                double minus = Loss();
                kernels.Upload(p, original);
                double numeric = (plus - minus) / (2 * h);
                double exact = analytic[entry.Offset + index];
                double error = Math.Abs(numeric - exact) / Math.Max(1e-4, Math.Abs(numeric) + Math.Abs(exact));
                Assert.True(error < 1e-5, $"{entry.Name}[{index}]: analytic {exact:G10}, numeric {numeric:G10}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount > 3 * 9 * config.NumHiddenLayers);
        // The gradient must carry signal everywhere, or the comparison above proves little.
        foreach (var entry in model.Layout.Entries)
            Assert.True(analytic.Skip((int)entry.Offset).Take((int)entry.Count).Any(g => Math.Abs(g) > 1e-8), $"{entry.Name} has an all-zero gradient");
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
