using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class PairBuilderTests
{
    private const FinishReason Stop = FinishReason.Stop, Length = FinishReason.Length;

    private static JudgmentRecord Judged(string id, int candidate, double? mean) => new(id, candidate, [], mean);

    [Fact]
    public void HighestAgainstLowestWithEveryDropRule()
    {
        CandidatesRecord[] candidates =
        [
            new("a", "pa", ["ok", "best", "worst", "long"], [Stop, Stop, Stop, Length]),
            new("tie", "pt", ["x", "y"], [Stop, Stop]),
            new("one", "po", ["only", "cut"], [Stop, Length]),
            new("unscored", "pu", ["u1", "u2", "u3"], [Stop, Stop, Stop]),
            new("same", "ps", ["same text", "same text"], [Stop, Stop]),
            new("shared", "ph", ["s0", "s1", "s2", "s3"], [Stop, Stop, Stop, Stop]),
        ];
        JudgmentRecord[] judgments =
        [
            // The truncated answer has the best and the worst score of all: it must be ignored.
            Judged("a", 0, 3), Judged("a", 1, 4.5), Judged("a", 2, 1), Judged("a", 3, 5),
            Judged("tie", 0, 3), Judged("tie", 1, 3),
            Judged("one", 0, 4), Judged("one", 1, 0),
            Judged("unscored", 0, 4), Judged("unscored", 1, null),
            Judged("same", 0, 5), Judged("same", 1, 2),
            Judged("shared", 3, 2), Judged("shared", 1, 4), Judged("shared", 0, 2), Judged("shared", 2, 4),
        ];

        var result = PairBuilder.Build(candidates, judgments, TruncatedAnswers.Unpaired);

        Assert.Equal(
            [new PairRecord("pa", "best", "worst", 4.5, 1), new PairRecord("ph", "s1", "s0", 4, 2)],
            result.Pairs);
        var stats = result.Stats;
        Assert.Equal((6, 2, 2, 2), (stats.Prompts, stats.Pairs, stats.TruncatedAnswers, stats.UnscoredAnswers));
        Assert.Equal(2, stats.Dropped[PairDropReason.FewerThanTwoScored]);
        Assert.Equal(1, stats.Dropped[PairDropReason.Tie]);
        Assert.Equal(1, stats.Dropped[PairDropReason.IdenticalAnswers]);
        Assert.Equal((4.25, 1.5), (stats.MeanScoreChosen, stats.MeanScoreRejected));
        Assert.Equal((3.0, 3.5, 4, 5), (stats.MeanLengthChosen, stats.MeanLengthRejected, stats.MaxLengthChosen, stats.MaxLengthRejected));
    }

    [Fact]
    public void NoPairsGiveNaNMeans()
    {
        var result = PairBuilder.Build([new CandidatesRecord("t", "p", ["x", "y"], [Stop, Stop])], [Judged("t", 0, 2), Judged("t", 1, 2)], TruncatedAnswers.Keep);
        Assert.Empty(result.Pairs);
        Assert.True(double.IsNaN(result.Stats.MeanScoreChosen));
        Assert.Equal(0, result.Stats.MaxLengthChosen);
    }

    [Fact]
    public void JudgmentsMustMatchTheCandidates()
    {
        CandidatesRecord[] candidates = [new("t", "p", ["x", "y"], [Stop, Stop])];
        Assert.Contains("judged twice", Assert.Throws<ArgumentException>(() => PairBuilder.Build(candidates, [Judged("t", 0, 2), Judged("t", 0, 3)], TruncatedAnswers.Keep)).Message);
        Assert.Contains("1 judgment(s)", Assert.Throws<ArgumentException>(() => PairBuilder.Build(candidates, [Judged("t", 2, 2)], TruncatedAnswers.Keep)).Message);
        Assert.Contains("1 judgment(s)", Assert.Throws<ArgumentException>(() => PairBuilder.Build(candidates, [Judged("other", 0, 2)], TruncatedAnswers.Keep)).Message);
        Assert.Contains("1 finish reasons for 2 candidates", Assert.Throws<ArgumentException>(
            () => PairBuilder.Build([new CandidatesRecord("t", "p", ["x", "y"], [Stop])], [], TruncatedAnswers.Keep)).Message);
    }

    /// <summary>
    /// The three rules for an answer cut by its budget: kept, it may be chosen or rejected by its
    /// score; unpaired or dropped, it never is (dropped ones are not even judged, so they come
    /// without a judgment here).
    /// </summary>
    [Fact]
    public void ATruncatedAnswerIsPairedOnlyWhenKept()
    {
        CandidatesRecord[] candidates = [new("a", "pa", ["fine", "ok", "cut off"], [Stop, Stop, Length])];
        JudgmentRecord[] judged = [Judged("a", 0, 3), Judged("a", 1, 2), Judged("a", 2, 5)];

        var kept = PairBuilder.Build(candidates, judged, TruncatedAnswers.Keep);
        Assert.Equal([new PairRecord("pa", "cut off", "ok", 5, 2)], kept.Pairs);
        Assert.Equal(1, kept.Stats.TruncatedAnswers);

        var unpaired = PairBuilder.Build(candidates, judged, TruncatedAnswers.Unpaired);
        Assert.Equal([new PairRecord("pa", "fine", "ok", 3, 2)], unpaired.Pairs);
        Assert.Equal(1, unpaired.Stats.TruncatedAnswers);

        var dropped = PairBuilder.Build(candidates, judged[..2], TruncatedAnswers.Drop);
        Assert.Equal([new PairRecord("pa", "fine", "ok", 3, 2)], dropped.Pairs);
        Assert.Equal(1, dropped.Stats.TruncatedAnswers);
    }
}
