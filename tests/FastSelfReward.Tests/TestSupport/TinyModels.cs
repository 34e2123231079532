using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>Small configurations that exercise every path of the model in milliseconds.</summary>
internal static class TinyModels
{
    /// <summary>Grouped-query attention (4 query heads over 2 KV heads), two layers.</summary>
    public static LlamaConfig Config(bool tied = false, int vocab = 19, int maxPositions = 64) => new()
    {
        VocabSize = vocab,
        HiddenSize = 16,
        IntermediateSize = 24,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        MaxPositionEmbeddings = maxPositions,
        TieWordEmbeddings = tied,
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    /// <summary>A randomly initialised model; std 0.3 so logits are far from uniform and every path carries signal.</summary>
    public static LlamaModel Create(IKernels kernels, LlamaConfig config, DType type, int seed = 7, double std = 0.3)
    {
        var model = new LlamaModel(kernels, config, type);
        model.InitializeRandom(seed, std);
        return model;
    }

    /// <summary>Random token sequences of the given lengths.</summary>
    public static int[][] Sequences(int vocab, int seed, params int[] lengths)
    {
        var random = new Random(seed);
        return lengths.Select(n => Enumerable.Range(0, n).Select(_ => random.Next(vocab)).ToArray()).ToArray();
    }

    public static double[] Download(IKernels kernels, Tensor tensor)
    {
        var values = new double[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    /// <summary>
    /// Compares an analytic gradient of the whole model with central differences of <paramref name="loss"/>
    /// at three coordinates of every tensor (first, middle, last), and requires every tensor's gradient
    /// to carry signal, or the comparison would prove little. Returns the number of coordinates checked.
    /// </summary>
    public static int AssertGradientMatchesFiniteDifferences(LlamaModel model, double[] analytic, Func<double> loss,
        double h = 1e-5, double tolerance = 1e-5)
    {
        var kernels = model.Kernels;
        int checkedCount = 0;
        foreach (var entry in model.Layout.Entries)
        {
            foreach (long index in new[] { 0, entry.Count / 2 + 1, entry.Count - 1 }.Distinct())
            {
                var p = model.Parameters.Slice(entry.Offset + index, 1);
                var original = new double[1];
                kernels.Download(p, original);
                kernels.Upload(p, [original[0] + h]);
                double plus = loss();
                kernels.Upload(p, [original[0] - h]);
                double minus = loss();
                kernels.Upload(p, original);
                double numeric = (plus - minus) / (2 * h);
                double exact = analytic[entry.Offset + index];
                double error = Math.Abs(numeric - exact) / Math.Max(1e-4, Math.Abs(numeric) + Math.Abs(exact));
                Assert.True(error < tolerance, $"{entry.Name}[{index}]: analytic {exact:G10}, numeric {numeric:G10}");
                checkedCount++;
            }
            Assert.True(analytic.Skip((int)entry.Offset).Take((int)entry.Count).Any(g => Math.Abs(g) > 1e-8), $"{entry.Name} has an all-zero gradient");
        }
        return checkedCount;
    }
}
