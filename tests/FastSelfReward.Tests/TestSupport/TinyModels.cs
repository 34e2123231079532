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
}
