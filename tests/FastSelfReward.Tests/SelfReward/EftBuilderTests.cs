using FastSelfReward.Data;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class EftBuilderTests
{
    private static EftRecord Set(string prompt, params (string Text, int Rank)[] responses) =>
        new(prompt, responses.Select(r => new RankedResponse(r.Text, r.Rank)).ToList());

    private static EftJudgedSet Judged(EftRecord record, params string[][] judgments) => new(record, judgments);

    private static string Verdict(double score) => $"Reasoning.\nScore: {score}";

    [Fact]
    public void GoldModeUsesTheGivenJudgmentsUpToTheirScoreLine()
    {
        var record = new EftRecord("q", [
            new RankedResponse("good", 0, "Helpful.\nScore: 5\ntrailing junk"),
            new RankedResponse("meh", 1, "No score here"),
            new RankedResponse("bad", 2),
        ]);
        var result = EftBuilder.FromGold([record]);

        var example = Assert.Single(result.Examples);
        Assert.Equal(JudgeTemplate.Default.Render("q", "good"), example.Prompt);
        Assert.Equal("Helpful.\nScore: 5", example.Response);
        Assert.Equal(1, result.Stats.Dropped[EftDropReason.Unparsed]);
        Assert.Equal(1, result.Stats.Dropped[EftDropReason.NoJudgment]);
        Assert.Equal(new Dictionary<double, int> { [5] = 1 }, result.Stats.ScoreCounts);
    }

    [Fact]
    public void ModelModeKeepsOnlySetsWhoseScoresStrictlyFollowTheHumanRanks()
    {
        EftJudgedSet[] sets =
        [
            Judged(Set("agree", ("a", 0), ("b", 1), ("c", 2)), [Verdict(5)], [Verdict(3)], [Verdict(1)]),
            Judged(Set("tie", ("a", 0), ("b", 1)), [Verdict(4)], [Verdict(4)]),
            Judged(Set("swap", ("a", 0), ("b", 1)), [Verdict(2)], [Verdict(4)]),
            Judged(Set("unparsed", ("a", 0), ("b", 1)), [Verdict(4)], ["Score: 9"]),
            // Equal human ranks impose no order on each other.
            Judged(Set("human tie", ("a", 0), ("b", 0), ("c", 1)), [Verdict(3)], [Verdict(4)], [Verdict(2)]),
            // Unordered input: ranks, not positions, decide.
            Judged(Set("reordered", ("worse", 1), ("better", 0)), [Verdict(2)], [Verdict(3)]),
        ];
        var result = EftBuilder.FromModelJudgments(sets, new EftBuildOptions { DownsampleMostFrequent = false });

        Assert.Equal(3, result.Stats.AgreeingSets);
        Assert.Equal(8, result.Stats.Examples);
        Assert.Equal(4, result.Stats.Dropped[EftDropReason.RankDisagreement]);
        Assert.Equal(2, result.Stats.Dropped[EftDropReason.Unparsed]);
        Assert.Equal(JudgeTemplate.Default.Render("agree", "b"), result.Examples[1].Prompt);
        Assert.Equal("Reasoning.\nScore: 3", result.Examples[1].Response);
    }

    [Fact]
    public void TheSampleNearestTheMeanIsTheExampleAndTheMeanDecidesTheOrder()
    {
        // Means 4 (samples 5, 3, 4) and 3.5 (3, 4): agree; examples are the samples nearest each mean.
        var set = Judged(Set("q", ("a", 0), ("b", 1)), ["A\nScore: 5", "B\nScore: 3", "C\nScore: 4", "junk"], ["D\nScore: 3", "E\nScore: 4"]);
        var result = EftBuilder.FromModelJudgments([set], new EftBuildOptions { DownsampleMostFrequent = false });
        Assert.Equal(["C\nScore: 4", "D\nScore: 3"], result.Examples.Select(e => e.Response));
    }

    [Fact]
    public void TooLongExamplesAreDroppedNotTruncated()
    {
        var sets = new[] { Judged(Set("q", ("short", 0), (new string('x', 500), 1)), [Verdict(5)], [Verdict(2)]) };
        var options = new EftBuildOptions { Length = e => e.Prompt.Length + e.Response.Length, ContextWindow = 100_000, DownsampleMostFrequent = false };
        var result = EftBuilder.FromModelJudgments(sets, options with { ContextWindow = JudgeTemplate.Default.Text.Length + 100 });
        Assert.Equal("Reasoning.\nScore: 5", Assert.Single(result.Examples).Response);
        Assert.Equal(1, result.Stats.Dropped[EftDropReason.TooLong]);
        Assert.Equal(2, EftBuilder.FromModelJudgments(sets, options).Examples.Count);
    }

    [Fact]
    public void TheMostFrequentScoreIsDownsampledDeterministically()
    {
        // Every set agrees; the kept examples score 4 (18 times), 2 (12), 1 (6), 5 and 3 (5 each).
        var sets = new List<EftJudgedSet>();
        for (int i = 0; i < 12; i++) sets.Add(Judged(Set($"p{i}", ("a", 0), ("b", 1)), [Verdict(4)], [Verdict(2)]));
        for (int i = 0; i < 5; i++) sets.Add(Judged(Set($"q{i}", ("a", 0), ("b", 1)), [Verdict(5)], [Verdict(3)]));
        for (int i = 0; i < 6; i++) sets.Add(Judged(Set($"r{i}", ("a", 0), ("b", 1)), [Verdict(4)], [Verdict(1)]));

        var result = EftBuilder.FromModelJudgments(sets, new EftBuildOptions { Seed = 3 });

        // Score 4 (18 examples) is cut to the count of the second most frequent, score 2 (12).
        Assert.Equal(new Dictionary<double, int> { [1] = 6, [2] = 12, [3] = 5, [4] = 12, [5] = 5 }, result.Stats.ScoreCounts);
        Assert.Equal(6, result.Stats.Dropped[EftDropReason.Downsampled]);
        Assert.Equal(40, result.Examples.Count);

        // The same seed keeps the same examples whatever the input order; another seed keeps others.
        var reversed = EftBuilder.FromModelJudgments(Enumerable.Reverse(sets), new EftBuildOptions { Seed = 3 });
        Assert.Equal(result.Examples.OrderBy(e => e.Prompt).Select(e => e.Prompt), reversed.Examples.OrderBy(e => e.Prompt).Select(e => e.Prompt));
        var other = EftBuilder.FromModelJudgments(sets, new EftBuildOptions { Seed = 4 });
        Assert.NotEqual(result.Examples.Select(e => e.Prompt), other.Examples.Select(e => e.Prompt));

        var capped = EftBuilder.FromModelJudgments(sets, new EftBuildOptions { MostFrequentCap = 3 });
        Assert.Equal(3, capped.Stats.ScoreCounts[4]);
        Assert.Equal(15, capped.Stats.Dropped[EftDropReason.Downsampled]);
    }

    [Fact]
    public void JudgmentListsMustMatchTheResponses()
    {
        var bad = Judged(Set("q", ("a", 0), ("b", 1)), [Verdict(5)]);
        Assert.Throws<ArgumentException>(() => EftBuilder.FromModelJudgments([bad]));
        var good = Judged(Set("q", ("a", 0), ("b", 1)), [Verdict(5)], [Verdict(2)]);
        Assert.Throws<ArgumentOutOfRangeException>(() => EftBuilder.FromModelJudgments([good], new EftBuildOptions { MostFrequentCap = -1 }));
    }
}
