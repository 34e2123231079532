using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class PromptExclusionTests
{
    private static readonly PromptExclusion Exclusion = new(["Name the capital city of France.", "Write a haiku about autumn leaves."], maxRougeL: 0.7);

    [Theory]
    [InlineData("name the  capital city of FRANCE.", InstructionVerdict.Excluded)]
    [InlineData("Name the capital city of Spain.", InstructionVerdict.NearExcluded)]
    [InlineData("Write a short haiku about autumn leaves.", InstructionVerdict.NearExcluded)]
    public void ExactAndRougeLMatchesAreExcluded(string prompt, InstructionVerdict verdict)
    {
        Assert.Equal(verdict, Exclusion.Check(prompt));
        Assert.True(Exclusion.Excludes(prompt));
    }

    [Theory]
    [InlineData("Explain how a refrigerator keeps food cold.")]
    [InlineData("France")]
    public void OtherPromptsAreKept(string prompt) => Assert.False(Exclusion.Excludes(prompt));

    [Fact]
    public void NoEvaluationPromptsExcludeNothing() => Assert.False(new PromptExclusion([], 0.7).Excludes("anything at all"));
}
