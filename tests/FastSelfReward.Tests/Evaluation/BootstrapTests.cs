using FastSelfReward.Evaluation;

namespace FastSelfReward.Tests.Evaluation;

public sealed class BootstrapTests
{
    [Fact]
    public void A_margin_of_equal_wins_and_losses_has_the_normal_approximations_interval_around_zero()
    {
        // 40 wins, 20 ties, 40 losses: mean 0, standard deviation sqrt(0.8), standard error 0.0894,
        // so the 95% interval is about ±1.96 × 0.0894 = ±0.175.
        var outcomes = Enumerable.Repeat(1.0, 40).Concat(Enumerable.Repeat(0.0, 20)).Concat(Enumerable.Repeat(-1.0, 40)).ToList();
        var interval = Bootstrap.MeanInterval(outcomes);
        Assert.InRange(interval.Low, -0.175 - 0.02, -0.175 + 0.02);
        Assert.InRange(interval.High, 0.175 - 0.02, 0.175 + 0.02);
        Assert.False(interval.AboveZero || interval.BelowZero);
    }

    [Fact]
    public void A_clear_margin_excludes_zero_and_a_constant_has_no_width()
    {
        var wins = Enumerable.Repeat(1.0, 60).Concat(Enumerable.Repeat(0.0, 30)).Concat(Enumerable.Repeat(-1.0, 10)).ToList();
        Assert.True(Bootstrap.MeanInterval(wins).AboveZero);
        Assert.True(Bootstrap.MeanInterval(wins.Select(w => -w).ToList()).BelowZero);
        Assert.Equal(new Interval(1, 1), Bootstrap.MeanInterval(Enumerable.Repeat(1.0, 7).ToList()));
    }

    [Fact]
    public void The_interval_is_reproducible_and_empty_input_gives_NaN()
    {
        var values = Enumerable.Range(0, 50).Select(i => (double)(i % 3 - 1)).ToList();
        Assert.Equal(Bootstrap.MeanInterval(values), Bootstrap.MeanInterval(values));
        Assert.NotEqual(Bootstrap.MeanInterval(values, seed: 1), Bootstrap.MeanInterval(values, seed: 2));
        var empty = Bootstrap.MeanInterval([]);
        Assert.True(double.IsNaN(empty.Low) && double.IsNaN(empty.High));
    }
}

public sealed class BootstrapRatioTests
{
    [Fact]
    public void A_ratio_of_sums_resamples_whole_items_and_weighs_them_by_their_denominators()
    {
        // 100 sets of 6 pairs, 4 right in each: the ratio is 2/3 in every resample.
        var even = Enumerable.Repeat((4.0, 6.0), 100).ToList();
        var interval = Bootstrap.RatioInterval(even);
        Assert.Equal(2.0 / 3, interval.Low, 12);
        Assert.Equal(2.0 / 3, interval.High, 12);

        // Half the sets all right, half all wrong: the ratio is 1/2 with the spread of a mean of 100 coin flips
        // (standard error 0.05, interval about ±0.098); sets without pairs change nothing.
        var split = Enumerable.Range(0, 100).Select(i => (i % 2 == 0 ? 6.0 : 0.0, 6.0)).Concat(Enumerable.Repeat((0.0, 0.0), 20)).ToList();
        var wide = Bootstrap.RatioInterval(split);
        Assert.InRange(wide.Low, 0.5 - 0.098 - 0.02, 0.5 - 0.098 + 0.02);
        Assert.InRange(wide.High, 0.5 + 0.098 - 0.02, 0.5 + 0.098 + 0.02);
        Assert.True(double.IsNaN(Bootstrap.RatioInterval([(0.0, 0.0)]).Low));
    }
}
