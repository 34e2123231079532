namespace FastSelfReward.SelfReward;

/// <summary>
/// The LLM-as-a-judge prompt: text with exactly one <c>{prompt}</c> and one <c>{response}</c>
/// placeholder, rendered as the user turn of the chat template. The default grades with the
/// paper's additive five-point scheme (one point per criterion met: relevant even if incomplete;
/// covers a substantial part of the request; answers its basic elements usefully; clearly written
/// from an AI assistant's perspective and well organised; expertly tailored with nothing extraneous),
/// asks for a justification of at most 100 words and a last line <c>Score: &lt;points&gt;</c>, which
/// <see cref="JudgeScore.Parse"/> reads.
/// </summary>
public sealed class JudgeTemplate
{
    public const string PromptPlaceholder = "{prompt}";
    public const string ResponsePlaceholder = "{response}";

    private const string DefaultText = """
        You are grading an AI assistant's answer to a user's request. The grade is additive: begin at 0 points and award one point for each of the five criteria below that the answer satisfies.

        1. Relevance: the answer is relevant to the request and offers some related information, even if it is incomplete or partly off topic.
        2. Coverage: the answer deals with a substantial portion of the request, even if it stops short of resolving it.
        3. Usefulness: the answer handles the basic elements of the request in a way that helps the user, whatever its style or source.
        4. Assistant quality: the answer is written clearly from an AI assistant's point of view, takes on the request directly and completely, and is well organised, with at most small lapses in clarity, brevity or focus.
        5. Expertise: the answer is fitted precisely to the request, contains nothing extraneous, and shows expert knowledge in an engaging, insightful way.

        <request>
        {prompt}
        </request>

        <answer>
        {response}
        </answer>

        Justify your grade in at most 100 words. Then, as the very last line, write the grade as "Score: <points>", where <points> is a whole number from 0 to 5.
        """;

    // The template split around its placeholders, so rendering is one pass: a prompt that itself
    // contains "{response}" stays literal text instead of receiving the answer.
    private readonly string _before, _between, _after;
    private readonly bool _promptFirst;

    private JudgeTemplate(string text)
    {
        Text = text;
        int p = text.IndexOf(PromptPlaceholder, StringComparison.Ordinal);
        int r = text.IndexOf(ResponsePlaceholder, StringComparison.Ordinal);
        _promptFirst = p < r;
        var (first, firstLength, second, secondLength) = _promptFirst
            ? (p, PromptPlaceholder.Length, r, ResponsePlaceholder.Length)
            : (r, ResponsePlaceholder.Length, p, PromptPlaceholder.Length);
        _before = text[..first];
        _between = text[(first + firstLength)..second];
        _after = text[(second + secondLength)..];
    }

    /// <summary>The built-in template.</summary>
    public static JudgeTemplate Default { get; } = new(DefaultText);

    /// <summary>The template's text, placeholders included.</summary>
    public string Text { get; }

    /// <summary>Checks and wraps a template text.</summary>
    /// <exception cref="ArgumentException">A placeholder is missing or appears more than once.</exception>
    public static JudgeTemplate Parse(string text, string source = "judge template")
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (string placeholder in (string[])[PromptPlaceholder, ResponsePlaceholder])
        {
            int count = Count(text, placeholder);
            if (count != 1)
                throw new ArgumentException($"{source}: needs the placeholder {placeholder} exactly once, found it {count} time(s)");
        }
        return new JudgeTemplate(text);
    }

    /// <summary>Reads a template file (UTF-8).</summary>
    /// <exception cref="ArgumentException">A placeholder is missing or repeated; the message names the file.</exception>
    public static JudgeTemplate Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>The judge prompt for one answer; both texts are inserted verbatim.</summary>
    public string Render(string prompt, string response) => _promptFirst
        ? string.Concat(_before, prompt, _between, response, _after)
        : string.Concat(_before, response, _between, prompt, _after);

    private static int Count(string text, string value)
    {
        int count = 0;
        for (int at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
