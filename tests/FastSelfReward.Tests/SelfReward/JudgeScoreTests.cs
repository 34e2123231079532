using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class JudgeScoreTests
{
    [Theory]
    [InlineData("Relevant and complete.\nScore: 4", 4.0)]
    [InlineData("Score: 0", 0.0)]
    [InlineData("Score: 5", 5.0)]
    [InlineData("Score: 4.0", 4.0)]
    [InlineData("Score: 3.5", 3.5)]
    [InlineData("Score: 4/5", 4.0)]
    [InlineData("Score: 4 / 5", 4.0)]
    [InlineData("Score: 3 points", 3.0)]
    [InlineData("Score: 1 point.", 1.0)]
    [InlineData("Score: 4.", 4.0)]
    [InlineData("score: 2", 2.0)]
    [InlineData("SCORE:2", 2.0)]
    [InlineData("Score : 2", 2.0)]
    [InlineData("**Score: 4**", 4.0)]
    [InlineData("**Score:** 4", 4.0)]
    [InlineData("“Score: 3”", 3.0)]
    [InlineData("  - Score: 3\r\n", 3.0)]
    [InlineData("Score: 2\nScore: 5", 5.0)]                      // two verdicts: the last
    [InlineData("Score: 4\nI hope this helps! Let me know.", 4.0)] // junk after the verdict line
    [InlineData("Score: 4\nScore: 7", 4.0)]                      // an out-of-range later line is not well-formed
    [InlineData("Score: 3\nScore: four", 3.0)]
    public void WellFormedVerdicts(string output, double expected) => Assert.Equal(expected, JudgeScore.Parse(output));

    [Theory]
    [InlineData("")]
    [InlineData("The answer is fine.")]                     // no score at all
    [InlineData("Score: 7")]                                // out of range
    [InlineData("Score: 5.5")]
    [InlineData("Score: -1")]                               // negative
    [InlineData("Score: four")]
    [InlineData("Score: 4/10")]                             // another scale
    [InlineData("Score: 8/10")]
    [InlineData("Score: 4/50")]
    [InlineData("Score: 4 out of 5")]
    [InlineData("Score: 4 because it is relevant")]         // the value line carries more
    [InlineData("Score:")]
    [InlineData("Score: <total points>")]
    [InlineData("I would give it a Score: 4 overall")]      // not at the start of a line
    [InlineData("Total score: 4")]
    [InlineData("Scores: 4")]
    [InlineData("Score: ４")]                               // full-width digit
    [InlineData("Score: ٤")]                                // Arabic-Indic digit
    [InlineData("Score: 4,5")]
    [InlineData("Score: +4")]
    public void AnythingElseIsAFailureNotZero(string output) => Assert.Null(JudgeScore.Parse(output));

    [Fact]
    public void VeryLongOutputsParseQuicklyAndCorrectly()
    {
        string justification = string.Concat(Enumerable.Repeat("Score: this sentence mentions the score word. ", 200_000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(2.0, JudgeScore.Parse(justification + "\nScore: 2\n" + justification));
        Assert.Null(JudgeScore.Parse(justification));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void TheMeanExcludesAndCountsParseFailures()
    {
        Assert.Equal(new ScoreSummary(4.5, 2, 1), JudgeScore.Summarize([4, null, 5]));
        Assert.Equal(new ScoreSummary(null, 0, 3), JudgeScore.Summarize([null, null, null]));
        Assert.Equal(new ScoreSummary(0, 1, 0), JudgeScore.Summarize([0]));
    }

    [Fact]
    public void JudgeBuildsTheJudgmentRecord()
    {
        var record = JudgeScore.Judge("p7", 2, ["Fine.\nScore: 3", "Score: 9", "Good.\nScore: 5/5"]);
        Assert.Equal(("p7", 2, 4.0), (record.Id, record.Candidate, record.Mean));
        Assert.Equal([3.0, null, 5.0], record.Samples.Select(s => s.Score));
        Assert.Equal("Score: 9", record.Samples[1].Text);
    }
}
