using FastSelfReward.World;

namespace FastSelfReward.Tests.World;

public class InstructionWorldTests
{
    [Fact]
    public void Has_at_least_eight_families_over_graded_difficulty()
    {
        Assert.True(InstructionWorld.Families.Count >= 8);
        var levels = InstructionWorld.Families.Select(InstructionWorld.DifficultyOf).ToList();
        Assert.Equal(levels.Order(), levels);
        Assert.Equal([1, 2, 3, 4, 5], levels.Distinct().Order());
    }

    [Fact]
    public void Sampling_is_determined_by_the_seed()
    {
        string[] Draw(int seed)
        {
            var random = new Random(seed);
            return [.. Enumerable.Range(0, 200).Select(_ => InstructionWorld.Sample(random).ToString())];
        }
        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void Every_sampled_prompt_parses_back_to_the_same_task()
    {
        var random = new Random(11);
        var templatesSeen = new HashSet<string>();
        for (int i = 0; i < 3000; i++)
        {
            WorldTask task = InstructionWorld.Sample(random);
            Assert.True(InstructionWorld.TryParse(task.Prompt, out WorldTask? parsed), task.Prompt);
            Assert.Equal(task.Family, parsed.Family);
            Assert.Equal(task.Answer, parsed.Answer);
            templatesSeen.Add(System.Text.RegularExpressions.Regex.Replace(task.Prompt, "[a-z]+(?=[ .?])|[0-9]+", "_"));
        }
        Assert.True(templatesSeen.Count >= 3 * InstructionWorld.Families.Count, "each family has several templates");
    }

    [Theory]
    [InlineData("Reverse the word cat.", TaskFamily.ReverseWord, "tac")]
    [InlineData("Subtract 5 from 12.", TaskFamily.Subtract, "7")]
    [InlineData("Put 30, 4, 12 in order from smallest to largest.", TaskFamily.SortNumbers, "4, 12, 30")]
    [InlineData("Say owl 3 times in a row.", TaskFamily.RepeatWord, "owl owl owl")]
    [InlineData("How many vowels are in banana?", TaskFamily.CountVowels, "3")] // a word outside the list still parses
    [InlineData("Which letter does tiger end with?", TaskFamily.LastLetter, "r")]
    public void Parses_prompts_and_computes_exact_answers(string prompt, TaskFamily family, string answer)
    {
        Assert.True(InstructionWorld.TryParse(prompt, out WorldTask? task));
        Assert.Equal(family, task.Family);
        Assert.Equal(answer, task.Answer);
    }

    [Theory]
    [InlineData("Tell me a story.")]
    [InlineData("Subtract 12 from 5.")] // the answer would be negative
    [InlineData("Reverse the word Cat.")]
    public void Rejects_prompts_outside_the_world(string prompt) =>
        Assert.False(InstructionWorld.TryParse(prompt, out _));

    [Fact]
    public void Evaluation_tasks_are_256_distinct_prompts_covering_every_family()
    {
        IReadOnlyList<WorldTask> tasks = InstructionWorld.EvaluationTasks(seed: 1);
        Assert.Equal(256, tasks.Count);
        Assert.Equal(256, tasks.Select(t => t.Prompt).Distinct().Count());
        Assert.Equal(InstructionWorld.Families.Order(), tasks.Select(t => t.Family).Distinct().Order());
        Assert.Equal(tasks.Select(t => t.Prompt), InstructionWorld.EvaluationTasks(seed: 1).Select(t => t.Prompt));
    }

    [Fact]
    public void Vocabulary_is_small()
    {
        var random = new Random(5);
        var words = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 5000; i++)
        {
            WorldTask task = InstructionWorld.Sample(random);
            foreach (string w in (task.Prompt + " " + InstructionWorld.ReferenceResponse(task)).Split(' ', '.', '?', ',', ':'))
                if (w.Length > 0 && !w.All(char.IsAsciiDigit)) words.Add(w);
        }
        Assert.InRange(words.Count, 50, 400);
        Assert.All(InstructionWorld.Words, w => Assert.InRange(w.Length, 3, 5));
    }
}
