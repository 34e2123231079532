namespace FastSelfReward.World;

/// <summary>Answers of a known quality; the value is the oracle score such an answer gets.</summary>
internal enum ResponseQuality
{
    /// <summary>Not about the task: a good answer to a different task.</summary>
    Irrelevant = 0,

    /// <summary>About the task, but never an answer of the right shape.</summary>
    WrongForm = 1,

    /// <summary>A well-formed sentence with a wrong answer.</summary>
    WrongAnswer = 2,

    /// <summary>The right answer alone, not in a sentence.</summary>
    Bare = 3,

    /// <summary>The right answer in a good sentence, with chatter around it.</summary>
    Extraneous = 4,

    /// <summary>The right answer in one short sentence.</summary>
    Perfect = 5,
}

/// <summary>
/// Writes responses of a chosen <see cref="ResponseQuality"/>, the way people and weak models err.
/// Every response is checked against the oracle before it is returned, so a file's stated quality
/// and its gold score can never disagree.
/// </summary>
internal static class ResponseWriter
{
    private static readonly string[] ClosingChatter =
    [
        "I hope this helps.", "Let me know if you need more help.", "That was a fun task.", "Thank you for the nice question.",
        "Ask me for another one any time.",
    ];

    private static readonly string[] OpeningChatter = ["Sure thing!", "Good question!", "Happy to help!", "Let me see."];

    public static string Write(WorldTask task, ResponseQuality quality, Random random)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            string response = Draft(task, quality, random);
            if (Oracle.Grade(task, response).Score == (int)quality) return response;
        }
        throw new InvalidOperationException($"cannot write a {quality} response to '{task.Prompt}'");
    }

    private static string Draft(WorldTask task, ResponseQuality quality, Random random)
    {
        string Sentence(string answer) => InstructionWorld.AnswerSentence(task, answer, random.Next());
        return quality switch
        {
            ResponseQuality.Perfect => Sentence(task.Answer),
            ResponseQuality.Extraneous => random.Next(3) == 0
                ? Pick(OpeningChatter, random) + " " + Sentence(task.Answer)
                : Sentence(task.Answer) + " " + Pick(ClosingChatter, random),
            ResponseQuality.Bare => random.Next(3) switch
            {
                0 => task.Answer,
                1 => task.Answer + ".",
                _ => "Answer: " + task.Answer,
            },
            ResponseQuality.WrongAnswer => Sentence(WrongAnswer(task, random)),
            ResponseQuality.WrongForm => WrongForm(task, random),
            _ => Irrelevant(task, random),
        };
    }

    // A good answer to a task about the other kind of subject (numbers for a word task and back),
    // so it cannot name this task's subject by accident.
    private static string Irrelevant(WorldTask task, Random random)
    {
        WorldTask other;
        do other = InstructionWorld.Sample(random);
        while (other.IsAboutWord == task.IsAboutWord);
        return InstructionWorld.AnswerSentence(other, other.Answer, random.Next());
    }

    private static string WrongAnswer(WorldTask task, Random random)
    {
        string w = task.Word;
        int Off(int n) => random.Next(2) == 0 && n > 0 ? n - 1 : n + 1;
        switch (task.Family)
        {
            case TaskFamily.FirstLetter or TaskFamily.LastLetter:
                // Confusing the two ends is the classic slip; fall back to any other letter.
                char other = task.Family == TaskFamily.FirstLetter ? w[^1] : w[0];
                return other.ToString() != task.Answer && random.Next(2) == 0 ? other.ToString() : RandomLetterExcept(task.Answer[0], random);
            case TaskFamily.UpperCase:
                // Two letters swapped, or the last letter wrong.
                return (random.Next(2) == 0 ? Swap(w, random) : w[..^1] + RandomLetterExcept(w[^1], random)).ToUpperInvariant();
            case TaskFamily.RepeatWord:
                return string.Join(" ", Enumerable.Repeat(w, task.Numbers[0] == 2 ? 3 : Off(task.Numbers[0])));
            case TaskFamily.ReverseWord:
                // The word itself, or a reversal with two letters swapped.
                return random.Next(3) == 0 ? w : Swap(task.Answer, random);
            case TaskFamily.SortNumbers:
                int[] sorted = [.. task.Numbers.Order()];
                if (random.Next(2) == 0) return InstructionWorld.List(sorted.Reverse());
                int i = random.Next(sorted.Length - 1);
                (sorted[i], sorted[i + 1]) = (sorted[i + 1], sorted[i]);
                return InstructionWorld.List(sorted);
            case TaskFamily.Largest:
                return InstructionWorld.Number(random.Next(2) == 0 ? task.Numbers.Min() : task.Numbers.Where(n => n != task.Numbers.Max()).First());
            case TaskFamily.Add when random.Next(3) == 0:
                return InstructionWorld.Number(Math.Abs(task.Numbers[0] - task.Numbers[1]));
            case TaskFamily.Subtract when random.Next(3) == 0:
                return InstructionWorld.Number(task.Numbers[0] + task.Numbers[1]);
            default:
                int right = int.Parse(task.Answer, System.Globalization.CultureInfo.InvariantCulture);
                return InstructionWorld.Number(Off(right) + (random.Next(4) == 0 ? random.Next(1, 5) : 0));
        }
    }

    // Relevant but shapeless: the wrong kind of answer, or an evasion that names the subject.
    private static string WrongForm(WorldTask task, Random random)
    {
        string w = task.Word;
        string list = InstructionWorld.List(task.Numbers);
        if (random.Next(3) == 0)
            return task.IsAboutWord ? $"The word {w} is a nice word to think about." : $"The numbers {list} are fun to think about.";
        return task.Family switch
        {
            TaskFamily.FirstLetter or TaskFamily.LastLetter or TaskFamily.UpperCase => InstructionWorld.AnswerSentence(task, w, random.Next()),
            TaskFamily.ReverseWord => InstructionWorld.AnswerSentence(task, string.Join(" ", task.Answer.ToCharArray()), random.Next()),
            TaskFamily.RepeatWord => InstructionWorld.AnswerSentence(task, string.Concat(Enumerable.Repeat(w, task.Numbers[0])), random.Next()),
            TaskFamily.SortNumbers => $"The numbers {list} are not in order.",
            TaskFamily.CountLetters => $"The word {w} has some letters.",
            TaskFamily.CountVowels => $"The word {w} has a few vowels.",
            _ => InstructionWorld.AnswerSentence(task, "a big number", random.Next()),
        };
    }

    private static string Swap(string word, Random random)
    {
        char[] letters = word.ToCharArray();
        for (int attempt = 0; attempt < 20; attempt++)
        {
            int i = random.Next(letters.Length - 1);
            if (letters[i] == letters[i + 1]) continue;
            (letters[i], letters[i + 1]) = (letters[i + 1], letters[i]);
            return new string(letters);
        }
        return word + word[^1];
    }

    private static string RandomLetterExcept(char letter, Random random)
    {
        char c;
        do c = (char)('a' + random.Next(26));
        while (char.ToLowerInvariant(c) == char.ToLowerInvariant(letter));
        return c.ToString();
    }

    private static string Pick(string[] options, Random random) => options[random.Next(options.Length)];
}
