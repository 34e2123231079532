using FastSelfReward.Evaluation;

namespace FastSelfReward.Tests.Evaluation;

public sealed class RankCorrelationTests
{
    [Fact]
    public void TiesShareTheAverageRank()
    {
        Assert.Equal([1, 2.5, 2.5, 4], RankCorrelation.AverageRanks([10, 20, 20, 30]));
        Assert.Equal([3, 1, 3, 3], RankCorrelation.AverageRanks([7, 1, 7, 7]));
    }

    [Fact]
    public void KnownValuesWithTies()
    {
        // Worked by hand (and as scipy.stats.spearmanr / kendalltau report them).
        double[] x = [1, 2, 3, 4, 5], y = [5, 6, 7, 8, 7];
        Assert.Equal(8 / Math.Sqrt(95), RankCorrelation.Spearman(x, y), 12);
        Assert.Equal(7 / Math.Sqrt(90), RankCorrelation.KendallTauB(x, y), 12);
    }

    [Fact]
    public void PerfectInverseAndUndefined()
    {
        double[] up = [1, 2, 3], down = [9, 5, 1];
        Assert.Equal(1, RankCorrelation.Spearman(up, [10, 20, 30]), 12);
        Assert.Equal(-1, RankCorrelation.Spearman(up, down), 12);
        Assert.Equal(-1, RankCorrelation.KendallTauB(up, down), 12);
        Assert.True(double.IsNaN(RankCorrelation.Spearman(up, [4, 4, 4])));
        Assert.True(double.IsNaN(RankCorrelation.KendallTauB(up, [4, 4, 4])));
        Assert.True(double.IsNaN(RankCorrelation.Spearman([1], [2])));
        Assert.True(double.IsNaN(RankCorrelation.KendallTauB([], [])));
        Assert.Throws<ArgumentException>(() => RankCorrelation.Spearman(up, [1, 2]));
    }
}
