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
