namespace FastSelfReward.World;

/// <summary>
/// One instruction of the world with its exact answer. Created by <see cref="InstructionWorld"/>,
/// either sampled or parsed back from a prompt's text.
/// </summary>
public sealed class WorldTask
{
    internal WorldTask(TaskFamily family, string prompt, string word, IReadOnlyList<int> numbers)
    {
        Family = family;
        Prompt = prompt;
        Word = word;
        Numbers = numbers;
        Answer = InstructionWorld.AnswerOf(family, word, numbers);
    }

    /// <summary>What kind of task this is.</summary>
    public TaskFamily Family { get; }

    /// <summary>The instruction as the user writes it.</summary>
    public string Prompt { get; }

    /// <summary>
    /// The exact answer value, without a sentence around it: "tac", "CAT", "9", "3, 5, 9", "dog dog dog".
    /// </summary>
    public string Answer { get; }

    /// <summary>1 (easiest) to 5 (hardest).</summary>
    public int Difficulty => InstructionWorld.DifficultyOf(Family);

    /// <summary>The word the task is about; empty for the number families.</summary>
    internal string Word { get; }

    /// <summary>The task's numbers: the operands or list, or for <see cref="TaskFamily.RepeatWord"/> the count.</summary>
    internal IReadOnlyList<int> Numbers { get; }

    /// <summary>True for the families whose subject is a word (the rest are about numbers).</summary>
    internal bool IsAboutWord => Word.Length > 0;

    /// <inheritdoc/>
    public override string ToString() => $"{Family}: {Prompt} -> {Answer}";
}
