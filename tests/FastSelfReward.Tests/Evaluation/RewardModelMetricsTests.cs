using FastSelfReward.Evaluation;

namespace FastSelfReward.Tests.Evaluation;

public sealed class RewardModelMetricsTests
{
    [Fact]
    public void EveryMeasureOnAHandWorkedExample()
    {
        RankedScores[] sets =
        [
            new([0, 1, 2], [5, 3, 1]),        // perfect
            new([0, 1, 2], [4, 4, 2]),        // a score tie between different ranks
            new([0, 1], [5, 5]),              // constant scores: correlations undefined, counted 0
            new([0, 1, 2], [null, 2, 3]),     // one unscored; the rest reversed
            new([0, 1], [null, 4]),           // one scored response: skipped
            new([0, 0, 1], [3, 3, 1]),        // a human tie matched by a score tie
        ];

        var report = RewardModelMetrics.Compute(sets);

        Assert.Equal((5, 1, 2), (report.Sets, report.SkippedSets, report.UnscoredResponses));
        Assert.Equal((10, 7), (report.Pairs, report.CorrectPairs));
        Assert.Equal(0.7, report.PairwiseAccuracy, 12);
        Assert.Equal(3, report.TopScored);
        Assert.Equal(2.0 / 3, report.FiveBest, 12);
        Assert.Equal(0.4, report.ExactMatch, 12);
        Assert.Equal((1 + 1.5 / Math.Sqrt(3) + 0 - 1 + 1) / 5, report.Spearman, 12);
        Assert.Equal((1 + 2 / Math.Sqrt(6) + 0 - 1 + 1) / 5, report.KendallTau, 12);
    }

    [Fact]
    public void NothingToMeasureIsNaN()
    {
        var report = RewardModelMetrics.Compute([new RankedScores([0, 1], [null, null])]);
        Assert.Equal((0, 1, 2), (report.Sets, report.SkippedSets, report.UnscoredResponses));
        Assert.True(double.IsNaN(report.PairwiseAccuracy));
        Assert.True(double.IsNaN(report.FiveBest));
        Assert.True(double.IsNaN(report.Spearman));
        Assert.Throws<ArgumentException>(() => RewardModelMetrics.Compute([new RankedScores([0, 1], [1])]));
    }
}
