using System.Globalization;
using System.Text.RegularExpressions;

namespace FastSelfReward.World;

/// <summary>
/// Scores any response to a <see cref="WorldTask"/> from 0 to 5 on the paper's five additive
/// criteria, made exact. The criteria are checked in order and the score is the number that hold
/// before the first that fails, because each point of the paper's rubric builds on the one before
/// (a wrong answer is neither "comprehensive" nor "expertly tailored").
/// <list type="number">
/// <item><b>Relevant.</b> The response names the task's subject (the word, case ignored, or one of the
/// task's numbers) or states the right answer.</item>
/// <item><b>Right form.</b> A sentence ends with an answer of the family's shape: a single letter (first,
/// last letter); a word of the subject's length (reverse); a word in capital letters (upper case); one
/// word said at least twice (repeat); a whole number (counts, sums, differences, largest); as many whole
/// numbers as the task has, separated by ", " or " and " (sort). Sentences that name the subject are
/// searched first, then the rest; the first sentence with such an ending gives the stated answer.</item>
/// <item><b>Correct.</b> The stated answer equals the exact answer (letters compare case-insensitively,
/// except for the upper-case family; a repeat needs the right word the right number of times).</item>
/// <item><b>Complete assistant-style answer.</b> The answer's sentence starts with a capital letter or
/// digit, ends with a period, and names the subject in at least two words before the answer
/// ("The word cat backwards is tac."), rather than giving the bare answer ("tac").</item>
/// <item><b>Nothing extraneous.</b> The response is that one sentence alone, on one line, with at most
/// twelve words before the answer.</item>
/// </list>
/// A perfect answer therefore scores 5, a well-formed wrong answer 2, a response that never gives an
/// answer of the right form 1, and text that is not about the task 0.
/// </summary>
public static class Oracle
{
    private const int MaxWordsBeforeAnswer = 12;

    private static readonly Regex SentenceEnd = new(@"(?<=[.!?])\s+", RegexOptions.CultureInvariant);

    /// <summary>Grades <paramref name="response"/> as an answer to <paramref name="task"/>.</summary>
    public static OracleGrade Grade(WorldTask task, string response)
    {
        List<string> sentences = Sentences(response);
        StatedAnswer? answer = FindAnswer(task, sentences);
        bool correct = answer is not null && answer.Value == task.Answer;
        var notes = new List<string>();

        if (!correct && !sentences.Any(s => Mentions(task, Words(s))))
            return Verdict(0, "The response is not about the task.");
        notes.Add("The response is about the task.");

        if (answer is null) return Verdict(1, $"It does not give {Shape(task)}.");
        notes.Add($"It gives {Shape(task)}.");

        // The right answer comes before the verdict on the response's: a judge that learns from these
        // justifications works the task out first, then compares two words, instead of having to
        // decide right or wrong before it has computed anything.
        notes.Add($"The right answer is {task.Answer}.");
        if (!correct) return Verdict(2, $"The response's answer {answer.Value} is wrong.");
        notes.Add($"The response's answer {answer.Value} is right.");

        string sentence = answer.Sentence;
        bool fullSentence = answer.WordsBefore.Count >= 2 && sentence.EndsWith('.')
            && (char.IsAsciiLetterUpper(sentence[0]) || char.IsAsciiDigit(sentence[0]))
            && Mentions(task, answer.WordsBefore);
        if (!fullSentence) return Verdict(3, $"It does not state the answer in a full sentence about {Subject(task)}.");
        notes.Add("It is a full sentence.");

        if (sentences.Count > 1 || answer.WordsBefore.Count > MaxWordsBeforeAnswer) return Verdict(4, "It has extra text.");
        return Verdict(5, "It has nothing extra.");

        OracleGrade Verdict(int score, string last)
        {
            notes.Add(last);
            return new OracleGrade(score, string.Join(" ", notes), answer?.Value);
        }
    }

    private sealed record StatedAnswer(string Sentence, IReadOnlyList<string> WordsBefore, string Value);

    // Lines, then sentences within a line (a break after . ! or ?).
    private static List<string> Sentences(string response) =>
        response.Split('\n')
            .SelectMany(line => SentenceEnd.Split(line.Trim()))
            .Select(s => s.Trim())
            .Where(s => s.Length > 0)
            .ToList();

    // Words with surrounding punctuation and quotes removed ("3," -> "3", "\"tac\"." -> "tac").
    private static List<string> Words(string sentence) =>
        sentence.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(w => w.Trim('.', ',', '!', '?', ';', ':', '"', '\'', '(', ')'))
            .Where(w => w.Length > 0)
            .ToList();

    private static StatedAnswer? FindAnswer(WorldTask task, List<string> sentences)
    {
        // Sentences about the subject first, so a chatty opener ("Sure thing!") is not taken for the answer.
        foreach (string sentence in sentences.Where(s => Mentions(task, Words(s))).Concat(sentences))
        {
            List<string> words = Words(sentence);
            int taken = AnswerLength(task, words);
            if (taken > 0)
                return new StatedAnswer(sentence, words[..^taken], Normalise(task, words[^taken..]));
        }
        return null;
    }

    // How many trailing words form an answer of the family's shape (0: none).
    private static int AnswerLength(WorldTask task, List<string> words)
    {
        if (words.Count == 0) return 0;
        string last = words[^1];
        switch (task.Family)
        {
            case TaskFamily.FirstLetter or TaskFamily.LastLetter:
                return last.Length == 1 && char.IsAsciiLetter(last[0]) ? 1 : 0;
            case TaskFamily.ReverseWord:
                return last.Length == task.Word.Length && last.All(char.IsAsciiLetter) ? 1 : 0;
            case TaskFamily.UpperCase:
                return last.All(char.IsAsciiLetterUpper) ? 1 : 0;
            case TaskFamily.RepeatWord:
                if (!last.All(char.IsAsciiLetter)) return 0;
                int run = 0;
                while (run < words.Count && string.Equals(words[^(run + 1)], last, StringComparison.OrdinalIgnoreCase)) run++;
                return run >= 2 ? run : 0;
            case TaskFamily.SortNumbers:
                int taken = 0, numbers = 0;
                while (taken < words.Count && IsNumber(words[^(taken + 1)]))
                {
                    taken++;
                    numbers++;
                    // "3, 5 and 9": an "and" counts only between two numbers.
                    if (taken + 1 < words.Count && words[^(taken + 1)] == "and" && IsNumber(words[^(taken + 2)])) taken++;
                }
                return numbers == task.Numbers.Count ? taken : 0;
            default:
                return IsNumber(last) ? 1 : 0;
        }
    }

    private static string Normalise(WorldTask task, List<string> answer) => task.Family switch
    {
        TaskFamily.SortNumbers => InstructionWorld.List(answer.Where(IsNumber).Select(ParseNumber)),
        TaskFamily.UpperCase => answer[0],
        TaskFamily.RepeatWord => string.Join(" ", answer.Select(w => w.ToLowerInvariant())),
        _ when IsNumber(answer[0]) => InstructionWorld.Number(ParseNumber(answer[0])),
        _ => answer[0].ToLowerInvariant(),
    };

    private static bool Mentions(WorldTask task, IReadOnlyList<string> words) =>
        task.IsAboutWord
            ? words.Any(w => string.Equals(w, task.Word, StringComparison.OrdinalIgnoreCase))
            : words.Any(w => IsNumber(w) && task.Numbers.Contains(ParseNumber(w)));

    private static bool IsNumber(string word) =>
        word.Length is > 0 and <= 6 && word.All(char.IsAsciiDigit);

    private static int ParseNumber(string word) => int.Parse(word, NumberStyles.None, CultureInfo.InvariantCulture);

    private static string Shape(WorldTask task) => task.Family switch
    {
        TaskFamily.FirstLetter or TaskFamily.LastLetter => "a single letter",
        TaskFamily.ReverseWord => $"a word of {task.Word.Length} letters",
        TaskFamily.UpperCase => "a word in capital letters",
        TaskFamily.RepeatWord => "one word said more than once",
        TaskFamily.SortNumbers => $"a list of {task.Numbers.Count} numbers",
        _ => "a number",
    };

    private static string Subject(WorldTask task) => task.IsAboutWord ? task.Word : "the numbers";
}
