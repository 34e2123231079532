using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class TokenLogProbsTests
{
    private const int Rows = 6, Vocab = 11;
    // -1 marks rows outside the loss mask (prompt tokens, padding).
    private static readonly int[] Targets = [3, -1, 10, 0, -1, 7];
    private static readonly double[] Weights = [0.5, 0.3, -1.2, 0, 2, 0.7];

    [Theory]
    [InlineData(DType.F32, 5e-5)]
    [InlineData(DType.F64, 1e-13)]
    public void LogProbsMatchLogSoftmax(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        using DeviceBuffer logits = kernels.Floats(Logits(17)), logp = kernels.Filled(Rows, double.NaN), targets = kernels.Ints(Targets);
        double[] values = kernels.Read(logits);
        kernels.TokenLogProbs(logits, logp, targets, null, Rows, Vocab);
        KernelBuffers.AssertClose(LogSoftmaxAtTargets(values), kernels.Read(logp), tolerance, "logp");
        Assert.Equal(values, kernels.Read(logits)); // without weights the logits are input only
    }

    [Fact]
    public void GradientMatchesFiniteDifferencesAndMaskedRowsGetNone()
    {
        var kernels = new CpuKernels(DType.F64);
        double[] logits = Logits(18);
        using DeviceBuffer tl = kernels.Floats(logits), logp = kernels.Allocate(Rows, DType.F64), targets = kernels.Ints(Targets);
        using DeviceBuffer weights = kernels.Floats(Weights);
        kernels.TokenLogProbs(tl, logp, targets, weights, Rows, Vocab);
        double[] analytic = kernels.Read(tl);
        KernelBuffers.AssertClose(LogSoftmaxAtTargets(logits), kernels.Read(logp), 1e-13, "logp (with gradient)");

        using DeviceBuffer probe = kernels.Allocate(logits.Length, DType.F64);
        FiniteDifferences.Check(logits, values =>
        {
            kernels.Upload(probe, values);
            kernels.TokenLogProbs(probe, logp, targets, null, Rows, Vocab);
            return FiniteDifferences.Dot(kernels.Read(logp), Weights);
        }, analytic, "dlogits");
        for (int i = 0; i < Rows; i++)
            if (Targets[i] < 0)
                Assert.All(analytic.AsSpan(i * Vocab, Vocab).ToArray(), g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void RejectsTargetsOutsideTheVocabulary()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer logits = kernels.Allocate(2 * Vocab, DType.F32), logp = kernels.Allocate(2, DType.F32), targets = kernels.Ints([1, Vocab]);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.TokenLogProbs(logits, logp, targets, null, 2, Vocab));
        Assert.Equal("targets", error.ParamName);
    }

    /// <summary>Random logits; row 2 is shifted by +300, which overflows exp without the max subtraction.</summary>
    private static double[] Logits(int seed)
    {
        double[] logits = new Random(seed).Uniform(Rows * Vocab, 3);
        for (int j = 0; j < Vocab; j++) logits[2 * Vocab + j] += 300;
        return logits;
    }

    private static double[] LogSoftmaxAtTargets(double[] logits)
    {
        var logp = new double[Rows];
        for (int i = 0; i < Rows; i++)
        {
            if (Targets[i] < 0) continue;
            ReadOnlySpan<double> row = logits.AsSpan(i * Vocab, Vocab);
            double max = double.NegativeInfinity;
            foreach (double x in row) max = Math.Max(max, x);
            double sum = 0;
            foreach (double x in row) sum += Math.Exp(x - max);
            logp[i] = row[Targets[i]] - max - Math.Log(sum);
        }
        return logp;
    }
}
