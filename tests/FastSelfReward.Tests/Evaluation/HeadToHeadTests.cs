using FastSelfReward.Evaluation;
using static FastSelfReward.Evaluation.PairwiseVerdict;

namespace FastSelfReward.Tests.Evaluation;

public sealed class HeadToHeadTests
{
    [Theory]
    [InlineData(First, Second, HeadToHeadOutcome.Win)]    // A preferred in both orders
    [InlineData(First, Tie, HeadToHeadOutcome.Win)]       // a win and a tie
    [InlineData(Tie, Second, HeadToHeadOutcome.Win)]
    [InlineData(Second, First, HeadToHeadOutcome.Loss)]
    [InlineData(Second, Tie, HeadToHeadOutcome.Loss)]
    [InlineData(Tie, First, HeadToHeadOutcome.Loss)]
    [InlineData(First, First, HeadToHeadOutcome.Tie)]     // the judge always picks the first shown: position, not content
    [InlineData(Second, Second, HeadToHeadOutcome.Tie)]
    [InlineData(Tie, Tie, HeadToHeadOutcome.Tie)]
    [InlineData(Invalid, Second, HeadToHeadOutcome.Invalid)]
    [InlineData(First, Invalid, HeadToHeadOutcome.Invalid)]
    public void BothOrdersCombine(PairwiseVerdict aShownFirst, PairwiseVerdict bShownFirst, HeadToHeadOutcome expected) =>
        Assert.Equal(expected, HeadToHead.Combine(aShownFirst, bShownFirst));

    [Fact]
    public void RatesAreOverValidPrompts()
    {
        var result = HeadToHead.Tally([(First, Second), (First, Tie), (First, First), (Second, First), (Invalid, Tie)]);
        Assert.Equal(new HeadToHeadResult(Wins: 2, Ties: 1, Losses: 1, Invalid: 1), result);
        Assert.Equal((0.5, 0.25, 0.25), (result.WinRate, result.TieRate, result.LossRate));
        Assert.True(double.IsNaN(HeadToHead.Tally([]).WinRate));
    }
}
