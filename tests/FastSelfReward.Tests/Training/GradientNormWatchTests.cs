using FastSelfReward.Reporting;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class GradientNormWatchTests
{
    // Norms as a healthy run has them: noisy around 1, falling slowly (largest ratio to the running median below 2).
    private static double[] Healthy(int count, int seed = 1)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i => (1.2 - 0.4 * i / count) * (0.7 + 0.6 * random.NextDouble()))];
    }

    [Fact]
    public void AHealthyRunIsNeverFlagged()
    {
        var watch = new GradientNormWatch();
        double[] norms = Healthy(500);
        for (int i = 0; i < norms.Length; i++) Assert.Null(watch.Observe(i + 1, norms[i], loss: 2.0));
    }

    [Fact]
    public void ASpikeFarAboveTheMedianIsFlaggedOnceWithItsStepAndRatio()
    {
        var watch = new GradientNormWatch();
        double[] norms = Healthy(30);
        for (int i = 0; i < norms.Length; i++) Assert.Null(watch.Observe(i + 1, norms[i]));
        double median = norms.Order().ElementAt(15) * 0.5 + norms.Order().ElementAt(14) * 0.5;

        Assert.Null(watch.Observe(31, 0.95 * GradientNormWatch.Factor * median));
        string? warning = watch.Observe(32, 40 * median);
        Assert.NotNull(warning);
        Assert.Contains("step 32", warning);
        Assert.Contains("before clipping", warning);
        Assert.Null(watch.Observe(33, 1000 * median));
    }

    [Fact]
    public void TheFirstStepsAreNotJudgedByRatio()
    {
        var watch = new GradientNormWatch();
        for (int i = 0; i < GradientNormWatch.History; i++) Assert.Null(watch.Observe(i + 1, Math.Pow(10, i)));
        Assert.NotNull(watch.Observe(GradientNormWatch.History + 1, 1e12));
    }

    [Theory]
    [InlineData(double.NaN, 1.0, "gradient norm at step 1 is NaN")]
    [InlineData(double.PositiveInfinity, 1.0, "gradient norm at step 1 is Infinity")]
    [InlineData(1.0, double.NaN, "loss at step 1 is NaN")]
    public void ANonFiniteNormOrLossIsFlaggedAtOnce(double norm, double loss, string expected)
    {
        var watch = new GradientNormWatch();
        Assert.Contains(expected, watch.Observe(1, norm, loss));
    }

    [Fact]
    public void TheProgressDecoratorWarnsOncePerStageNamingIt()
    {
        var text = new StringWriter();
        using var progress = new TrainingHealthProgress(new PlainProgress(text));
        foreach (string stage in new[] { "sft", "m1" })
        {
            progress.Start(40, stage);
            double[] norms = Healthy(40);
            for (int i = 0; i < norms.Length; i++)
                progress.Report(new ProgressUpdate(i + 1) { Loss = 1, GradNorm = i < 20 ? norms[i] : 1e6 });
            progress.Finish();
        }
        string[] warnings = [.. text.ToString().Split('\n').Where(line => line.StartsWith("WARNING:"))];
        Assert.Equal(2, warnings.Length);
        Assert.Contains("diverging in sft: the gradient norm at step 21", warnings[0]);
        Assert.Contains("diverging in m1:", warnings[1]);
        Assert.Contains("FSR_BLAS", warnings[0]);
    }
}
