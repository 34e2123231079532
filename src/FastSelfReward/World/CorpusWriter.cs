using System.Text;

namespace FastSelfReward.World;

/// <summary>
/// Pretraining documents for M0: tasks with worked answers, numbered task lists (so that M0 can
/// continue a few-shot "Task 1: ... Task 8:" prompt with a new task), and plain facts about the
/// world's words and numbers. Answers here are always perfect; imperfection lives in IFT only.
/// </summary>
internal static class CorpusWriter
{
    private static readonly string[] ListHeaders = ["Here are some tasks.", "Some tasks to try:", "A list of tasks:", ""];

    /// <summary>One document; <paramref name="sample"/> draws a task that is allowed in training data.</summary>
    public static string Document(Random random, Func<WorldTask> sample)
    {
        int kind = random.Next(20);
        return kind switch
        {
            < 6 => Worked(sample(), random),
            < 10 => TaskList(random, sample),
            < 14 => WorkedList(random, sample),
            < 17 => WordFacts(InstructionWorld.Words[random.Next(InstructionWorld.Words.Count)], random),
            _ => NumberFacts(random),
        };
    }

    private static string Worked(WorldTask task, Random random) =>
        task.Prompt + "\n" + InstructionWorld.AnswerSentence(task, task.Answer, random.Next());

    private static string TaskList(Random random, Func<WorldTask> sample)
    {
        var text = new StringBuilder();
        string header = ListHeaders[random.Next(ListHeaders.Length)];
        if (header.Length > 0) text.Append(header).Append('\n');
        int count = random.Next(3, 9);
        for (int i = 1; i <= count; i++) text.Append("Task ").Append(i).Append(": ").Append(sample().Prompt).Append('\n');
        return text.ToString().TrimEnd('\n');
    }

    private static string WorkedList(Random random, Func<WorldTask> sample)
    {
        var blocks = new List<string>();
        int count = random.Next(2, 5);
        for (int i = 1; i <= count; i++)
        {
            WorldTask task = sample();
            blocks.Add($"Task {i}: {task.Prompt}\nAnswer: {InstructionWorld.AnswerSentence(task, task.Answer, random.Next())}");
        }
        return string.Join("\n\n", blocks);
    }

    // Spelling a word out letter by letter gives a small model the characters behind its tokens,
    // which reversing, counting and first/last-letter tasks all need.
    private static string WordFacts(string word, Random random)
    {
        string[] facts =
        [
            $"The word {word} has {word.Length} letters.",
            $"Spelled out, {word} is {string.Join(" ", word.ToCharArray())}.",
            $"It starts with {word[0]} and ends with {word[^1]}.",
            $"Backwards, {word} is {new string(word.Reverse().ToArray())}.",
            $"In capital letters, {word} is {word.ToUpperInvariant()}.",
            $"The number of vowels in {word} is {word.Count(InstructionWorld.IsVowel)}.",
        ];
        // The first fact names the word, so later ones may say "it".
        IEnumerable<string> rest = facts.Skip(1).OrderBy(_ => random.Next()).Take(random.Next(2, facts.Length));
        return string.Join(" ", rest.Prepend(facts[0]));
    }

    private static string NumberFacts(Random random)
    {
        int a = random.Next(1, 50), b;
        do b = random.Next(1, 50);
        while (b == a);
        int[] list = [.. Enumerable.Range(0, random.Next(3, 6)).Select(_ => random.Next(1, 100)).Distinct()];
        string[] facts =
        [
            $"{a} plus {b} is {a + b}.",
            $"{a + b} minus {b} is {a}.",
            $"{Math.Max(a, b)} is larger than {Math.Min(a, b)}.",
            $"The largest of {InstructionWorld.List(list)} is {list.Max()}.",
            $"Sorted, {InstructionWorld.List(list)} becomes {InstructionWorld.List(list.Order())}.",
        ];
        return string.Join(" ", facts.OrderBy(_ => random.Next()).Take(random.Next(2, facts.Length + 1)));
    }
}
