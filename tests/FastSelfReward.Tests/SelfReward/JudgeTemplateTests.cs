using FastSelfReward.SelfReward;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.SelfReward;

public sealed class JudgeTemplateTests
{
    [Fact]
    public void TheDefaultStatesTheFiveCriteriaTheWordLimitAndTheScoreLine()
    {
        string text = JudgeTemplate.Default.Text;
        foreach (string expected in (string[])["relevant", "substantial portion", "basic elements", "AI assistant's point of view", "well organised", "nothing extraneous", "100 words", "\"Score: <points>\"", "0 to 5"])
            Assert.Contains(expected, text);
        string rendered = JudgeTemplate.Default.Render("What is 2+2?", "It is 4.");
        Assert.Contains("<request>\nWhat is 2+2?\n</request>", rendered);
        Assert.Contains("<answer>\nIt is 4.\n</answer>", rendered);
        Assert.DoesNotContain("{prompt}", rendered);
        // The instruction's own example line must not parse as a verdict.
        Assert.Null(JudgeScore.Parse(rendered));
    }

    [Fact]
    public void RenderingIsOnePassSoInsertedTextStaysLiteral()
    {
        var template = JudgeTemplate.Parse("Q: {prompt}\nA: {response}\n");
        Assert.Equal("Q: say {response}\nA: I said {prompt}\n", template.Render("say {response}", "I said {prompt}"));
        var reversed = JudgeTemplate.Parse("A: {response} | Q: {prompt}");
        Assert.Equal("A: r | Q: p", reversed.Render("p", "r"));
    }

    [Theory]
    [InlineData("Q: {prompt}", "{response}", 0)]
    [InlineData("A: {response}", "{prompt}", 0)]
    [InlineData("{prompt} {prompt} {response}", "{prompt}", 2)]
    [InlineData("{PROMPT} {response}", "{prompt}", 0)]
    public void ATemplateNeedsEachPlaceholderExactlyOnce(string text, string placeholder, int found)
    {
        var error = Assert.Throws<ArgumentException>(() => JudgeTemplate.Parse(text, "mine.txt"));
        Assert.Equal($"mine.txt: needs the placeholder {placeholder} exactly once, found it {found} time(s)", error.Message);
    }

    [Fact]
    public void LoadReadsAFileAndNamesItInErrors()
    {
        using var scratch = new ScratchFolder();
        string good = scratch.File("judge.txt"), bad = scratch.File("bad.txt");
        File.WriteAllText(good, "Rate {response} for {prompt}. Score: <n>");
        File.WriteAllText(bad, "Rate {response}.");
        Assert.Equal("Rate r for p. Score: <n>", JudgeTemplate.Load(good).Render("p", "r"));
        Assert.Contains(bad, Assert.Throws<ArgumentException>(() => JudgeTemplate.Load(bad)).Message);
    }
}
