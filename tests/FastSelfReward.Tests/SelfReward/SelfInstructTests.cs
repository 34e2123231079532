using FastSelfReward.Generation;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class SelfInstructTests
{
    [Fact]
    public void ThePromptIsANumberedListLeftOpenAtTheNextTask()
    {
        string prompt = SelfInstruct.BuildPrompt(["Write a haiku.", "  Explain DNS\nin two lines. "]);
        Assert.Equal(SelfInstruct.Header + "\n\nTask 1: Write a haiku.\n\nTask 2: Explain DNS\nin two lines.\n\nTask 3:", prompt);
        Assert.Throws<ArgumentException>(() => SelfInstruct.BuildPrompt(["ok task", "first\nTask 7: second"]));
        Assert.Throws<ArgumentException>(() => SelfInstruct.BuildPrompt(["  "]));
    }

    [Fact]
    public void ShotsAreDistinctUsableAndAFunctionOfSeedAndIndex()
    {
        var pool = Enumerable.Range(0, 30).Select(i => $"task number {i}").Append("bad\nTask 3: two").Append(" ").ToList();
        var shots = SelfInstruct.SampleShots(pool, 8, seed: 11, index: 4);
        Assert.Equal(8, shots.Distinct().Count());
        Assert.All(shots, s => Assert.StartsWith("task number", s));
        Assert.Equal(shots, SelfInstruct.SampleShots(pool, 8, seed: 11, index: 4));
        Assert.NotEqual(shots, SelfInstruct.SampleShots(pool, 8, seed: 11, index: 5));
        Assert.NotEqual(shots, SelfInstruct.SampleShots(pool, 8, seed: 12, index: 4));
        Assert.Equal(30, SelfInstruct.SampleShots(pool, 50, seed: 1, index: 0).Count);
        // Every usable prompt gets drawn sometime: the shuffle is not stuck on a prefix.
        var drawn = Enumerable.Range(0, 200).SelectMany(i => SelfInstruct.SampleShots(pool, 8, 3, i)).ToHashSet();
        Assert.Equal(30, drawn.Count);
    }

    [Theory]
    [InlineData(" Write a limerick about cats.\n\nTask 10: Something else", FinishReason.Length, InstructionVerdict.Accepted, "Write a limerick about cats.")]
    [InlineData(" Write a limerick\nabout cats.", FinishReason.Stop, InstructionVerdict.Accepted, "Write a limerick\nabout cats.")]
    [InlineData(" Write a limerick about", FinishReason.Length, InstructionVerdict.Truncated, null)]
    [InlineData("   \n", FinishReason.Stop, InstructionVerdict.Empty, null)]
    [InlineData("\nTask 10: Write code", FinishReason.Stop, InstructionVerdict.Empty, null)]
    [InlineData(" Write a poem. Task 10: Write code.", FinishReason.Stop, InstructionVerdict.NotSingle, null)]
    [InlineData(" Write a poem.\n  task 10 : Write code.", FinishReason.Length, InstructionVerdict.Accepted, "Write a poem.")]
    public void ExtractionTakesOneInstruction(string generation, FinishReason finish, InstructionVerdict verdict, string? instruction) =>
        Assert.Equal((verdict, instruction), SelfInstruct.Extract(generation, finish));

    [Fact]
    public void FiltersCountEveryReason()
    {
        var filter = new InstructionFilter(
            pool: ["Write a poem about the sea."],
            excluded: ["Explain how photosynthesis works in plants."],
            new SelfInstructOptions { MinWords = 3, MaxWords = 12 });
        (InstructionVerdict, string?) Consider(string text, FinishReason finish = FinishReason.Stop) => filter.Consider(" " + text + "\n\nTask 10:", finish);

        Assert.Equal((InstructionVerdict.Duplicate, null), Consider("write a  poem about the SEA."));
        Assert.Equal(InstructionVerdict.NearDuplicate, Consider("Write a poem about the blue sea.").Item1);
        Assert.Equal(InstructionVerdict.Excluded, Consider("EXPLAIN how photosynthesis works in plants.").Item1);
        Assert.Equal(InstructionVerdict.NearExcluded, Consider("Explain how photosynthesis works in green plants").Item1);
        Assert.Equal(InstructionVerdict.TooShort, Consider("Hi there").Item1);
        Assert.Equal(InstructionVerdict.TooLong, Consider("one two three four five six seven eight nine ten eleven twelve thirteen").Item1);
        Assert.Equal((InstructionVerdict.Accepted, "Describe the rules of chess for a beginner."), Consider("Describe the rules of chess for a beginner."));
        Assert.Equal(InstructionVerdict.Duplicate, Consider("Describe the rules of chess for a beginner.").Item1);
        Assert.Equal(InstructionVerdict.NearDuplicate, Consider("Describe the rules of chess for a total beginner").Item1);
        Assert.Equal(InstructionVerdict.Accepted, Consider("Plan a three day trip to Lisbon on a budget.").Item1);
        Assert.Equal(InstructionVerdict.NotSingle, Consider("Plan a trip. Task 11: pack.").Item1);
        Assert.Equal(InstructionVerdict.Empty, filter.Consider("", FinishReason.Stop).Verdict);
        Assert.Equal(InstructionVerdict.Truncated, filter.Consider(" Summarise the plot of", FinishReason.Length).Verdict);

        Assert.Equal(["Describe the rules of chess for a beginner.", "Plan a three day trip to Lisbon on a budget."], filter.Accepted);
        var expected = new Dictionary<InstructionVerdict, int>
        {
            [InstructionVerdict.Accepted] = 2, [InstructionVerdict.Empty] = 1, [InstructionVerdict.NotSingle] = 1, [InstructionVerdict.Truncated] = 1,
            [InstructionVerdict.TooShort] = 1, [InstructionVerdict.TooLong] = 1, [InstructionVerdict.Excluded] = 1, [InstructionVerdict.NearExcluded] = 1,
            [InstructionVerdict.Duplicate] = 2, [InstructionVerdict.NearDuplicate] = 2,
        };
        Assert.Equal(expected, filter.Counts);
    }

    [Fact]
    public void ThePaperSamplingSettingsAreTheDefault()
    {
        var options = new SelfInstructOptions();
        Assert.Equal((8, 0.6, 0.9, 0.7), (options.Shots, options.Sampling.Temperature, options.Sampling.TopP, options.MaxRougeL));
    }
}
