using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace FastSelfReward.World;

/// <summary>
/// A small instruction world with exact answers: eleven task families over fifty short words and
/// small numbers, each family phrased by several prompt templates. The vocabulary is kept small on
/// purpose, so a tiny model trained from scratch on a CPU can learn it in minutes.
/// </summary>
public static class InstructionWorld
{
    /// <summary>The words tasks are about: lower case, 3 to 5 letters, none a palindrome.</summary>
    public static IReadOnlyList<string> Words { get; } =
    [
        "cat", "dog", "sun", "hat", "cup", "pen", "box", "fox", "bed", "map",
        "jam", "bus", "egg", "owl", "ant", "bee", "cow", "pig", "hen", "yak",
        "fish", "bird", "frog", "lamp", "milk", "ship", "star", "moon", "rain", "tree",
        "rock", "leaf", "cake", "desk", "gold", "ring", "sock", "king", "wolf", "duck",
        "apple", "house", "train", "plant", "bread", "chair", "cloud", "river", "stone", "tiger",
    ];

    /// <summary>Every family, easiest first.</summary>
    public static IReadOnlyList<TaskFamily> Families { get; } = Enum.GetValues<TaskFamily>();

    // Slots: {w} a word, {n} a count, {a} {b} two numbers, {list} numbers joined by ", ".
    // Every template starts with a capital letter and ends with '.' or '?', so that (compared case-
    // sensitively) no rendered prompt is a substring of a different one.
    private static readonly Dictionary<TaskFamily, string[]> Templates = new()
    {
        [TaskFamily.FirstLetter] = ["What is the first letter of {w}?", "Name the first letter of the word {w}.", "Which letter does {w} start with?", "Give the first letter of {w}."],
        [TaskFamily.LastLetter] = ["What is the last letter of {w}?", "Name the last letter of the word {w}.", "Which letter does {w} end with?", "Give the last letter of {w}."],
        [TaskFamily.UpperCase] = ["Write {w} in capital letters.", "Change the word {w} to upper case.", "What is {w} in upper case?"],
        [TaskFamily.RepeatWord] = ["Repeat the word {w} {n} times.", "Write {w} {n} times.", "Say {w} {n} times in a row."],
        [TaskFamily.CountLetters] = ["How many letters are in {w}?", "Count the letters in the word {w}.", "What is the length of the word {w}?"],
        [TaskFamily.Add] = ["What is {a} plus {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}."],
        [TaskFamily.Subtract] = ["What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} take away {b}."],
        [TaskFamily.Largest] = ["Which is the largest of {list}?", "Pick the largest number from {list}.", "What is the biggest number in {list}?"],
        [TaskFamily.CountVowels] = ["How many vowels are in {w}?", "Count the vowels in the word {w}.", "What is the number of vowels in {w}?"],
        [TaskFamily.ReverseWord] = ["Reverse the word {w}.", "Write {w} backwards.", "What is {w} spelled backwards?", "Spell the word {w} in reverse."],
        [TaskFamily.SortNumbers] = ["Sort these numbers from smallest to largest: {list}.", "Put {list} in order from smallest to largest.", "Arrange {list} in increasing order."],
    };

    // The assistant's answer sentences ({x} is the answer). Each names the task's subject before the
    // answer and ends with the answer, which is what the oracle's top score asks for.
    private static readonly Dictionary<TaskFamily, string[]> AnswerSentences = new()
    {
        [TaskFamily.FirstLetter] = ["The first letter of {w} is {x}.", "The word {w} starts with {x}."],
        [TaskFamily.LastLetter] = ["The last letter of {w} is {x}.", "The word {w} ends with {x}."],
        [TaskFamily.UpperCase] = ["The word {w} in capital letters is {x}.", "In upper case, {w} is {x}."],
        [TaskFamily.RepeatWord] = ["Here is {w} {n} times: {x}.", "The word {w} {n} times is {x}."],
        [TaskFamily.CountLetters] = ["The number of letters in {w} is {x}.", "The word {w} has a length of {x}."],
        [TaskFamily.Add] = ["{a} plus {b} is {x}.", "The sum of {a} and {b} is {x}."],
        [TaskFamily.Subtract] = ["{a} minus {b} is {x}.", "Taking {b} from {a} leaves {x}."],
        [TaskFamily.Largest] = ["The largest of {list} is {x}.", "The biggest number in {list} is {x}."],
        [TaskFamily.CountVowels] = ["The number of vowels in {w} is {x}.", "The word {w} has a vowel count of {x}."],
        [TaskFamily.ReverseWord] = ["The word {w} backwards is {x}.", "Reversed, {w} is {x}."],
        [TaskFamily.SortNumbers] = ["Sorted, {list} becomes {x}.", "In order, {list} becomes {x}."],
    };

    private static readonly Lazy<(TaskFamily Family, Regex Pattern, string[] Slots)[]> Parsers = new(BuildParsers);

    /// <summary>How hard a family is, 1 (easiest) to 5.</summary>
    public static int DifficultyOf(TaskFamily family) => family switch
    {
        TaskFamily.FirstLetter or TaskFamily.LastLetter or TaskFamily.UpperCase => 1,
        TaskFamily.RepeatWord or TaskFamily.CountLetters => 2,
        TaskFamily.Add or TaskFamily.Subtract or TaskFamily.Largest => 3,
        TaskFamily.CountVowels or TaskFamily.ReverseWord => 4,
        _ => 5,
    };

    /// <summary>Draws a task: a uniformly chosen family (unless given), template and arguments.</summary>
    public static WorldTask Sample(Random random, TaskFamily? family = null)
    {
        TaskFamily f = family ?? Families[random.Next(Families.Count)];
        string[] templates = Templates[f];
        string template = templates[random.Next(templates.Length)];
        string word = "";
        int[] numbers;
        switch (f)
        {
            case TaskFamily.Add:
                numbers = [random.Next(1, 50), random.Next(1, 50)];
                break;
            case TaskFamily.Subtract:
                int a = random.Next(10, 61);
                numbers = [a, random.Next(1, a + 1)];
                break;
            case TaskFamily.Largest or TaskFamily.SortNumbers:
                numbers = DistinctNumbers(random, random.Next(3, 6));
                break;
            case TaskFamily.RepeatWord:
                word = Words[random.Next(Words.Count)];
                numbers = [random.Next(2, 5)];
                break;
            default:
                word = Words[random.Next(Words.Count)];
                numbers = [];
                break;
        }
        return new WorldTask(f, Fill(template, word, numbers, answer: null), word, numbers);
    }

    /// <summary>
    /// Recognises a prompt written in one of the world's templates (by anyone, including a model) and
    /// rebuilds its task, so any such prompt can be graded. Words need not be in <see cref="Words"/>.
    /// </summary>
    public static bool TryParse(string prompt, [NotNullWhen(true)] out WorldTask? task)
    {
        task = null;
        string text = prompt.Trim();
        foreach (var (family, pattern, slots) in Parsers.Value)
        {
            Match m = pattern.Match(text);
            if (!m.Success) continue;
            // Templates may name a and b in either order ("Subtract {b} from {a}.").
            var values = new Dictionary<string, string>();
            for (int i = 0; i < slots.Length; i++) values[slots[i]] = m.Groups[i + 1].Value;
            string word = values.GetValueOrDefault("w", "");
            string numberText = values.TryGetValue("list", out string? list) ? list
                : values.TryGetValue("n", out string? n) ? n
                : values.TryGetValue("a", out string? a) ? a + ", " + values["b"]
                : "";
            int[] numbers = numberText.Length == 0 ? []
                : [.. numberText.Split(", ").Select(part => int.Parse(part, CultureInfo.InvariantCulture))];
            // Negative answers and long repeats are outside the world.
            if (family == TaskFamily.Subtract && numbers[0] < numbers[1]) continue;
            if (family == TaskFamily.RepeatWord && numbers[0] is < 1 or > 9) continue;
            task = new WorldTask(family, text, word, numbers);
            return true;
        }
        return false;
    }

    /// <summary>
    /// The held-out evaluation tasks of a seed: <paramref name="count"/> distinct prompts, families in
    /// turn. <see cref="WorldData"/> keeps every one of these prompts out of all training files.
    /// </summary>
    public static IReadOnlyList<WorldTask> EvaluationTasks(int seed, int count = 256)
    {
        var random = new Random(DeriveSeed(seed, 1));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var tasks = new List<WorldTask>(count);
        for (int i = 0; tasks.Count < count; i++)
        {
            if (i > count * 1000) throw new InvalidOperationException($"cannot draw {count} distinct evaluation prompts");
            WorldTask task = Sample(random, Families[tasks.Count % Families.Count]);
            if (seen.Add(task.Prompt)) tasks.Add(task);
        }
        return tasks;
    }

    /// <summary>A perfect response: the answer in one short sentence that mentions the task's subject.</summary>
    public static string ReferenceResponse(WorldTask task) => AnswerSentence(task, task.Answer, 0);

    /// <summary>Phrasing <paramref name="variant"/> (any integer) of the family's answer sentence around <paramref name="answer"/>.</summary>
    internal static string AnswerSentence(WorldTask task, string answer, int variant)
    {
        string[] sentences = AnswerSentences[task.Family];
        return Fill(sentences[(variant % sentences.Length + sentences.Length) % sentences.Length], task.Word, task.Numbers, answer);
    }

    internal static string AnswerOf(TaskFamily family, string word, IReadOnlyList<int> numbers) => family switch
    {
        TaskFamily.FirstLetter => word[..1],
        TaskFamily.LastLetter => word[^1..],
        TaskFamily.UpperCase => word.ToUpperInvariant(),
        TaskFamily.RepeatWord => string.Join(" ", Enumerable.Repeat(word, numbers[0])),
        TaskFamily.CountLetters => Number(word.Length),
        TaskFamily.CountVowels => Number(word.Count(IsVowel)),
        TaskFamily.Add => Number(numbers[0] + numbers[1]),
        TaskFamily.Subtract => Number(numbers[0] - numbers[1]),
        TaskFamily.Largest => Number(numbers.Max()),
        TaskFamily.ReverseWord => new string(word.Reverse().ToArray()),
        TaskFamily.SortNumbers => List(numbers.Order()),
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    internal static bool IsVowel(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u';

    internal static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);

    internal static string List(IEnumerable<int> numbers) => string.Join(", ", numbers.Select(Number));

    /// <summary>Independent random streams from one seed (System.Random's seeded sequence is stable across runtimes).</summary>
    internal static int DeriveSeed(int seed, int stream) => unchecked(seed * 7919 + stream * 104729);

    private static int[] DistinctNumbers(Random random, int count)
    {
        var set = new List<int>(count);
        while (set.Count < count)
        {
            int n = random.Next(1, 100);
            if (!set.Contains(n)) set.Add(n);
        }
        return [.. set];
    }

    private static string Fill(string template, string word, IReadOnlyList<int> numbers, string? answer)
    {
        string text = template.Replace("{w}", word).Replace("{list}", List(numbers));
        if (numbers.Count > 0) text = text.Replace("{n}", Number(numbers[0])).Replace("{a}", Number(numbers[0]));
        if (numbers.Count > 1) text = text.Replace("{b}", Number(numbers[1]));
        return answer is null ? text : text.Replace("{x}", answer);
    }

    private static (TaskFamily, Regex, string[])[] BuildParsers()
    {
        var parsers = new List<(TaskFamily, Regex, string[])>();
        foreach (var (family, templates) in Templates)
            foreach (string template in templates)
            {
                var slots = new List<string>();
                string pattern = Regex.Replace(Regex.Escape(template), @"\\\{(w|n|a|b|list)}", m =>
                {
                    string slot = m.Groups[1].Value;
                    slots.Add(slot);
                    return slot switch
                    {
                        "w" => "([a-z]{2,12})",
                        "list" => @"([0-9]{1,3}(?:, [0-9]{1,3}){1,7})",
                        _ => "([0-9]{1,3})",
                    };
                });
                parsers.Add((family, new Regex("^" + pattern + "$", RegexOptions.CultureInvariant), [.. slots]));
            }
        return [.. parsers];
    }
}
