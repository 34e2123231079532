namespace FastSelfReward.Evaluation;

/// <summary>A two-sided confidence interval.</summary>
public readonly record struct Interval(double Low, double High)
{
    /// <summary>True when the whole interval lies above zero.</summary>
    public bool AboveZero => Low > 0;

    /// <summary>True when the whole interval lies below zero.</summary>
    public bool BelowZero => High < 0;
}

/// <summary>Percentile bootstrap intervals over items drawn with replacement.</summary>
public static class Bootstrap
{
    /// <summary>
    /// The 95% percentile interval of the mean of <paramref name="values"/> over <paramref name="resamples"/>
    /// resamples of the items with replacement. For head-to-head outcomes (+1 win, 0 tie, −1 loss per
    /// prompt, both models' answers to one prompt kept together) the mean is the win rate minus the loss
    /// rate, and this is the paired bootstrap over prompts. Seeded, so a report is reproducible; NaN
    /// bounds when there are no items.
    /// </summary>
    public static Interval MeanInterval(IReadOnlyList<double> values, int resamples = 4000, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (values.Count == 0) return new Interval(double.NaN, double.NaN);
        var random = new Random(seed);
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Count; i++) sum += values[random.Next(values.Count)];
            means[r] = sum / values.Count;
        }
        Array.Sort(means);
        return new Interval(Quantile(means, 0.025), Quantile(means, 0.975));
    }

    // Linear interpolation between order statistics (type 7, R's default).
    private static double Quantile(double[] sorted, double p)
    {
        double position = p * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }
}
