using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>The weights of checkpoint folders, compared as training runs that sum in another order are: to a share of the largest weight.</summary>
internal static class SavedWeights
{
    /// <summary>Every parameter of the checkpoint in <paramref name="folder"/>, in layout order.</summary>
    public static double[] Of(string folder)
    {
        using var kernels = new CpuKernels();
        using var model = ModelCheckpoint.Load(kernels, folder);
        return TinyModels.Download(kernels, model.Parameters);
    }

    /// <summary>Fails, saying by how much, unless every weight of <paramref name="actual"/> is within <paramref name="share"/> of the largest weight of <paramref name="expected"/>.</summary>
    public static void AssertClose(string expected, string actual, string what, double share = 1e-4)
    {
        var (a, b) = (Of(expected), Of(actual));
        Assert.Equal(a.Length, b.Length);
        double worst = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(a[i]));
        }
        Assert.True(worst <= share * scale, $"{what}: weights differ by up to {worst} (largest weight {scale})");
    }
}
