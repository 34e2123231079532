using FastSelfReward.Evaluation;

namespace FastSelfReward.Tests.Evaluation;

public sealed class PairwiseJudgeTests
{
    [Theory]
    [InlineData("A is clearer.\nVerdict: A", PairwiseVerdict.First)]
    [InlineData("Verdict: B", PairwiseVerdict.Second)]
    [InlineData("Both are fine.\nverdict: TIE", PairwiseVerdict.Tie)]
    [InlineData("**Verdict:** **B**", PairwiseVerdict.Second)]
    [InlineData("Final verdict: Answer A.", PairwiseVerdict.First)]
    [InlineData("Verdict: [B]\n", PairwiseVerdict.Second)]
    [InlineData("Winner: response b", PairwiseVerdict.Second)]
    [InlineData("B", PairwiseVerdict.Second)]
    [InlineData("  tie. ", PairwiseVerdict.Tie)]
    // The last verdict line decides, as the prompt asks for the verdict last.
    [InlineData("Verdict: A\nOn reflection:\nVerdict: B", PairwiseVerdict.Second)]
    public void ReadsTheLastVerdictLine(string output, PairwiseVerdict expected) => Assert.Equal(expected, PairwiseJudge.Parse(output));

    [Theory]
    [InlineData("")]
    [InlineData("I cannot decide.")]
    [InlineData("Verdict: both")]
    [InlineData("Verdict: A or B")]
    [InlineData("Verdict: AB")]
    [InlineData("Verdict:")]
    [InlineData("Answer A is better because of its clarity.")]
    [InlineData("Verdict: Bad answers all round")]
    [InlineData("Score: 5")]
    // A later verdict line with no valid value is the judge's last word: invalid, not the earlier one.
    [InlineData("Verdict: A\nVerdict: unsure")]
    public void AnythingElseIsInvalid(string output) => Assert.Equal(PairwiseVerdict.Invalid, PairwiseJudge.Parse(output));

    [Fact]
    public void RenderInsertsTextsVerbatimInOnePass()
    {
        string text = PairwiseJudge.Render("say {first}", "one {second}", "two");
        Assert.Contains("say {first}", text);
        Assert.Contains("one {second}", text);
        Assert.True(text.IndexOf("one {second}", StringComparison.Ordinal) < text.IndexOf("two", StringComparison.Ordinal));
    }
}
