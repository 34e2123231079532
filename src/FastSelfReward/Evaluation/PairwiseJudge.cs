using System.Text.RegularExpressions;

namespace FastSelfReward.Evaluation;

/// <summary>
/// The head-to-head judge prompt: a request and two responses labelled A and B; the judge reasons
/// briefly and ends with a line <c>Verdict: A</c>, <c>Verdict: B</c> or <c>Verdict: tie</c>, which
/// <see cref="Parse"/> reads.
/// </summary>
public static partial class PairwiseJudge
{
    private const string Text = """
        Two AI assistants answered the same request from a user. Decide which answer serves the user better: the one that is more relevant, more complete and correct, clearer, and free of extraneous content. Neither the order of the answers nor their length should sway you.

        <request>
        {prompt}
        </request>

        <answer A>
        {first}
        </answer A>

        <answer B>
        {second}
        </answer B>

        Explain your decision in at most 100 words. Then, as the very last line, write "Verdict: A" if answer A is better, "Verdict: B" if answer B is better, or "Verdict: tie" if neither is better.
        """;

    /// <summary>The judge prompt with <paramref name="first"/> shown as answer A and <paramref name="second"/> as answer B (texts inserted verbatim, in one pass).</summary>
    public static string Render(string prompt, string first, string second)
    {
        int p = Text.IndexOf("{prompt}", StringComparison.Ordinal), f = Text.IndexOf("{first}", StringComparison.Ordinal),
            s = Text.IndexOf("{second}", StringComparison.Ordinal);
        return string.Concat(Text[..p], prompt, Text[(p + "{prompt}".Length)..f], first, Text[(f + "{first}".Length)..s], second,
            Text[(s + "{second}".Length)..]);
    }

    /// <summary>
    /// The decision in a judge's output: the last line that is a verdict line (<c>Verdict:</c>, also
    /// <c>Winner:</c>, <c>Better:</c> or <c>Answer:</c>, any case, markdown decoration allowed) whose
    /// value is A, B (optionally "answer A" / "response B") or tie; or an output that is nothing but
    /// such a value. Anything else, including a verdict line with another value, is
    /// <see cref="PairwiseVerdict.Invalid"/>, never a guess.
    /// </summary>
    public static PairwiseVerdict Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        string[] lines = output.Split('\n');
        for (int i = lines.Length - 1; i >= 0; i--)
        {
            var line = VerdictLine().Match(lines[i]);
            if (line.Success) return Value(line.Groups["value"].Value);
        }
        string trimmed = output.Trim();
        return Bare().IsMatch(trimmed) ? Value(trimmed) : PairwiseVerdict.Invalid;
    }

    private static PairwiseVerdict Value(string text)
    {
        var match = Bare().Match(text.Trim());
        if (!match.Success) return PairwiseVerdict.Invalid;
        string value = match.Groups["choice"].Value.ToLowerInvariant();
        return value switch
        {
            "a" => PairwiseVerdict.First,
            "b" => PairwiseVerdict.Second,
            _ => PairwiseVerdict.Tie,
        };
    }

    [GeneratedRegex(@"^[\s*_#>`""'“”-]*(?:final\s+)?(?:verdict|winner|better|answer)[\s*_`""'“”]*:(?<value>.*)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex VerdictLine();

    [GeneratedRegex(@"^[\s*_`""'“”\[(]*(?:(?:answer|response|assistant)\s+)?(?<choice>a|b|tie)[\s*_`""'“”\])]*[.!]?[\s*_`""'“”]*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Bare();
}
