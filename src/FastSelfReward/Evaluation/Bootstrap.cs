namespace FastSelfReward.Evaluation;

/// <summary>A two-sided confidence interval.</summary>
public readonly record struct Interval(double Low, double High)
{
    /// <summary>True when the whole interval lies above zero.</summary>
    public bool AboveZero => Low > 0;

    /// <summary>True when the whole interval lies below zero.</summary>
    public bool BelowZero => High < 0;
}

/// <summary>
/// Percentile bootstrap intervals (95%) over items drawn with replacement. Seeded, so a report is
/// reproducible; NaN bounds when there is nothing to resample.
/// </summary>
public static class Bootstrap
{
    /// <summary>
    /// The interval of the mean of <paramref name="values"/>. For head-to-head outcomes (+1 win, 0 tie,
    /// −1 loss per prompt, both models' answers to one prompt kept together) the mean is the win rate
    /// minus the loss rate, and this is the paired bootstrap over prompts.
    /// </summary>
    public static Interval MeanInterval(IReadOnlyList<double> values, int resamples = 4000, int seed = 1) =>
        Percentile(values.Count, resamples, seed, draw =>
        {
            double sum = 0;
            foreach (int i in draw) sum += values[i];
            return sum / draw.Length;
        });

    /// <summary>
    /// The interval of Σ numerator / Σ denominator over items, e.g. a judge's pairwise accuracy over
    /// ranked sets (correct pairs and pairs per set), resampling whole sets. A resample whose
    /// denominators sum to zero is left out.
    /// </summary>
    public static Interval RatioInterval(IReadOnlyList<(double Numerator, double Denominator)> items, int resamples = 4000, int seed = 1) =>
        Percentile(items.Count, resamples, seed, draw =>
        {
            double numerator = 0, denominator = 0;
            foreach (int i in draw) { numerator += items[i].Numerator; denominator += items[i].Denominator; }
            return denominator == 0 ? double.NaN : numerator / denominator;
        });

    private static Interval Percentile(int count, int resamples, int seed, Func<int[], double> statistic)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (count == 0) return new Interval(double.NaN, double.NaN);
        var random = new Random(seed);
        var draw = new int[count];
        var values = new List<double>(resamples);
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < count; i++) draw[i] = random.Next(count);
            double value = statistic(draw);
            if (!double.IsNaN(value)) values.Add(value);
        }
        if (values.Count == 0) return new Interval(double.NaN, double.NaN);
        values.Sort();
        return new Interval(Quantile(values, 0.025), Quantile(values, 0.975));
    }

    // Linear interpolation between order statistics (type 7, R's default).
    private static double Quantile(List<double> sorted, double p)
    {
        double position = p * (sorted.Count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }
}
