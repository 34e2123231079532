using System.Globalization;
using FastSelfReward.Data;

namespace FastSelfReward.SelfReward;

/// <summary>The mean of the parsed scores of one answer and how many samples did or did not parse.</summary>
/// <param name="Mean">Mean over parsed samples only; null when none parsed.</param>
/// <param name="Parsed">Samples with a verdict.</param>
/// <param name="Failed">Samples without one (parse failures).</param>
public readonly record struct ScoreSummary(double? Mean, int Parsed, int Failed);

/// <summary>
/// Reads the judge's verdict. A <em>score line</em> is a line that, after leading whitespace and
/// decoration (<c>* _ # &gt; - ` " ' “ ”</c>, so markdown bold or a quoted verdict still counts),
/// starts with the word <c>score</c> in any letter case, then optional spaces or decoration, a colon, and the value.
/// The value is well-formed when it is, in full: ASCII digits with an optional ASCII decimal part
/// (<c>4</c>, <c>4.0</c>, <c>4.5</c>), optionally followed by <c>/5</c> and/or the word <c>point</c>/<c>points</c>
/// (any case), then only spaces, decoration and a final period; and it lies in [0, 5].
/// The verdict is the LAST well-formed score line. Score lines that are not well-formed
/// (<c>Score: four</c>, <c>Score: 4/10</c>, <c>Score: -1</c>, <c>Score: 7</c>, <c>Score: 4 because …</c>, non-ASCII digits)
/// are ignored, "Score:" inside a sentence is not a score line, and junk after the verdict line does not matter.
/// No well-formed line is a parse failure: null, never zero, so it cannot make an answer the rejected one.
/// </summary>
public static class JudgeScore
{
    /// <summary>The top of the scale.</summary>
    public const double MaxScore = 5;

    /// <summary>The verdict of one judge output, or null when it has none.</summary>
    public static double? Parse(string output) => ParseVerdict(output).Score;

    /// <summary>The verdict and where its line ends, so a training target can stop right after the score line.</summary>
    internal static (double? Score, int End) ParseVerdict(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        (double? Score, int End) verdict = (null, 0);
        foreach (var range in output.AsSpan().Split('\n'))
            if (ParseLine(output.AsSpan(range)) is double score) verdict = (score, range.End.GetOffset(output.Length));
        return verdict;
    }

    /// <summary>Mean over the parsed scores; nulls (parse failures) are counted and excluded.</summary>
    public static ScoreSummary Summarize(IEnumerable<double?> scores)
    {
        double sum = 0;
        int parsed = 0, failed = 0;
        foreach (double? score in scores)
        {
            if (score is double s) { sum += s; parsed++; }
            else failed++;
        }
        return new ScoreSummary(parsed > 0 ? sum / parsed : null, parsed, failed);
    }

    /// <summary>The judgments artifact record of one candidate from its sampled judge outputs.</summary>
    public static JudgmentRecord Judge(string id, int candidate, IEnumerable<string> outputs)
    {
        var samples = outputs.Select(text => new JudgeSample(text, Parse(text))).ToList();
        return new JudgmentRecord(id, candidate, samples, Summarize(samples.Select(s => s.Score)).Mean);
    }

    private static double? ParseLine(ReadOnlySpan<char> line)
    {
        line = line.TrimStart(" \t\r\u00A0*_#>-`\"'“”");
        if (!line.StartsWith("score", StringComparison.OrdinalIgnoreCase)) return null;
        line = line[5..].TrimStart(" \t\u00A0*_`\"'“”");
        if (line.IsEmpty || line[0] != ':') return null;
        line = line[1..].TrimStart(" \t\u00A0*_`\"'“”");

        int digits = Digits(line);
        if (digits == 0) return null;
        int length = digits;
        if (length < line.Length && line[length] == '.' && Digits(line[(length + 1)..]) is int fraction and > 0)
            length += 1 + fraction;
        double value = double.Parse(line[..length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);

        var rest = line[length..].TrimStart(" \t\u00A0");
        if (rest.StartsWith("/"))
        {
            rest = rest[1..].TrimStart(" \t\u00A0");
            if (!rest.StartsWith("5") || Digits(rest) != 1) return null;
            rest = rest[1..].TrimStart(" \t\u00A0");
        }
        if (rest.StartsWith("points", StringComparison.OrdinalIgnoreCase)) rest = rest[6..];
        else if (rest.StartsWith("point", StringComparison.OrdinalIgnoreCase)) rest = rest[5..];
        if (!rest.Trim(" \t\r\u00A0*_`\"'“”.").IsEmpty) return null;
        return value <= MaxScore ? value : null;
    }

    private static int Digits(ReadOnlySpan<char> text)
    {
        int n = 0;
        while (n < text.Length && char.IsAsciiDigit(text[n])) n++;
        return n;
    }
}
