using System.Text.RegularExpressions;
using FastSelfReward.Generation;

namespace FastSelfReward.SelfReward;

/// <summary>
/// Self-instruction: the model writes new prompts by continuing a numbered list of example tasks.
/// The prompt is a plain completion text (no chat template), so a base-style model continues it:
/// <code>
/// {Header}
///
/// Task 1: {shot 1}
///
/// Task 2: {shot 2}
/// …
/// Task 8: {shot 8}
///
/// Task 9:
/// </code>
/// A shot may span lines. The new instruction is the generated text up to the first line that starts
/// a further task (<c>Task &lt;n&gt;:</c>, which the model writes when it goes on listing) or the end of
/// the generation; see <see cref="Extract"/>.
/// </summary>
public static partial class SelfInstruct
{
    /// <summary>The line that opens the prompt.</summary>
    public const string Header = "Here is a list of tasks that people asked an AI assistant to carry out. Every task stands on its own and differs from the others in topic and wording.";

    /// <summary>The completion prompt for <paramref name="shots"/> (numbered from 1), ending with the open marker for the next task.</summary>
    /// <exception cref="ArgumentException">A shot is blank or contains a task marker line, which would break the numbering.</exception>
    public static string BuildPrompt(IReadOnlyList<string> shots)
    {
        var text = new System.Text.StringBuilder(Header);
        for (int i = 0; i < shots.Count; i++)
        {
            if (!IsUsableShot(shots[i])) throw new ArgumentException($"shot {i}: blank or contains a 'Task <n>:' line", nameof(shots));
            text.Append($"\n\nTask {i + 1}: ").Append(shots[i].Trim());
        }
        return text.Append($"\n\nTask {shots.Count + 1}:").ToString();
    }

    /// <summary>
    /// Draws up to <paramref name="k"/> distinct usable prompts from <paramref name="pool"/> (blank ones and
    /// ones with a task marker line are passed over), as a pure function of (seed, index): the
    /// <paramref name="index"/>-th generated prompt gets the same shots in a resumed run.
    /// </summary>
    public static IReadOnlyList<string> SampleShots(IReadOnlyList<string> pool, int k, ulong seed, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        string[] usable = pool.Where(IsUsableShot).ToArray();
        int take = Math.Min(k, usable.Length);
        // Partial Fisher–Yates keyed by Philox, so the draw needs no generator state.
        for (int i = 0; i < take; i++)
        {
            int j = i + (int)(Philox.Uniform(seed, index, 0, i) * (usable.Length - i));
            (usable[i], usable[j]) = (usable[j], usable[i]);
        }
        return usable[..take];
    }

    /// <summary>
    /// The single instruction in a continuation of <see cref="BuildPrompt"/>, or why there is none:
    /// <see cref="InstructionVerdict.Empty"/> when nothing but space comes before the next marker or the end;
    /// <see cref="InstructionVerdict.NotSingle"/> when the text holds another task marker inside a line;
    /// <see cref="InstructionVerdict.Truncated"/> when the token budget ran out before a next marker or a stop
    /// token ended it, since the instruction may be cut off.
    /// </summary>
    public static (InstructionVerdict Verdict, string? Instruction) Extract(string generation, FinishReason finishReason)
    {
        Match next = MarkerLine().Match(generation);
        string text = (next.Success ? generation[..next.Index] : generation).Trim();
        if (text.Length == 0) return (InstructionVerdict.Empty, null);
        if (Marker().IsMatch(text)) return (InstructionVerdict.NotSingle, null);
        if (!next.Success && finishReason == FinishReason.Length) return (InstructionVerdict.Truncated, null);
        return (InstructionVerdict.Accepted, text);
    }

    private static bool IsUsableShot(string shot) => !string.IsNullOrWhiteSpace(shot) && !MarkerLine().IsMatch(shot);

    [GeneratedRegex(@"^[ \t]*Task[ \t]+[0-9]+[ \t]*:", RegexOptions.Multiline | RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MarkerLine();

    [GeneratedRegex(@"\bTask[ \t]+[0-9]+[ \t]*:", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Marker();
}

/// <summary>What became of one generated instruction, in the order the checks run.</summary>
public enum InstructionVerdict
{
    Accepted,
    /// <summary>No text before the next task marker.</summary>
    Empty,
    /// <summary>More than one task in the text.</summary>
    NotSingle,
    /// <summary>The token budget ended the generation mid-instruction.</summary>
    Truncated,
    /// <summary>Fewer words than <see cref="SelfInstructOptions.MinWords"/>.</summary>
    TooShort,
    /// <summary>More words than <see cref="SelfInstructOptions.MaxWords"/>.</summary>
    TooLong,
    /// <summary>Equal to an evaluation prompt (up to case and spacing).</summary>
    Excluded,
    /// <summary>ROUGE-L F ≥ <see cref="SelfInstructOptions.MaxRougeL"/> with an evaluation prompt.</summary>
    NearExcluded,
    /// <summary>Equal to a pool prompt or an accepted one (up to case and spacing).</summary>
    Duplicate,
    /// <summary>ROUGE-L F ≥ <see cref="SelfInstructOptions.MaxRougeL"/> with a pool prompt or an accepted one.</summary>
    NearDuplicate,
}

/// <summary>Self-instruction settings; the defaults follow the paper and Self-Instruct.</summary>
public sealed record SelfInstructOptions
{
    /// <summary>Examples per prompt-writing prompt.</summary>
    public int Shots { get; init; } = 8;

    /// <summary>Word bounds (words as <see cref="RougeL.Words"/> counts them), inclusive.</summary>
    public int MinWords { get; init; } = 3;
    public int MaxWords { get; init; } = 150;

    /// <summary>A new instruction whose ROUGE-L F with a known prompt reaches this is a near duplicate.</summary>
    public double MaxRougeL { get; init; } = 0.7;

    /// <summary>The sampling settings the paper used for writing prompts.</summary>
    public SamplingOptions Sampling { get; init; } = new() { Temperature = 0.6, TopP = 0.9 };
}

/// <summary>
/// Filters generated instructions one at a time, in order: extraction (<see cref="SelfInstruct.Extract"/>),
/// word bounds, evaluation prompts (exact, then ROUGE-L), duplicates of the pool or of earlier accepted
/// instructions (exact, then ROUGE-L). The first failing check names the verdict; accepted instructions
/// join the duplicate set, so the result depends on the order of the generations (keep it fixed).
/// Exact comparison ignores letter case and runs of white space.
/// </summary>
public sealed class InstructionFilter
{
    private readonly SelfInstructOptions _options;
    private readonly HashSet<string> _known;
    private readonly PromptExclusion _excluded;
    private readonly RougeLIndex _knownIndex = new();
    private readonly List<string> _accepted = [];
    private readonly Dictionary<InstructionVerdict, int> _counts = Enum.GetValues<InstructionVerdict>().ToDictionary(v => v, _ => 0);

    public InstructionFilter(IEnumerable<string> pool, IEnumerable<string> excluded, SelfInstructOptions? options = null)
    {
        _options = options ?? new SelfInstructOptions();
        _known = new HashSet<string>(StringComparer.Ordinal);
        _excluded = new PromptExclusion(excluded, _options.MaxRougeL);
        foreach (string p in pool) { _known.Add(PromptExclusion.Normalize(p)); _knownIndex.Add(p); }
    }

    /// <summary>How many generations got each verdict.</summary>
    public IReadOnlyDictionary<InstructionVerdict, int> Counts => _counts;

    /// <summary>The accepted instructions, in order.</summary>
    public IReadOnlyList<string> Accepted => _accepted;

    /// <summary>Judges one generation (a continuation of <see cref="SelfInstruct.BuildPrompt"/>); the instruction is set when accepted.</summary>
    public (InstructionVerdict Verdict, string? Instruction) Consider(string generation, FinishReason finishReason)
    {
        var (verdict, instruction) = SelfInstruct.Extract(generation, finishReason);
        if (verdict == InstructionVerdict.Accepted) verdict = Check(instruction!);
        _counts[verdict]++;
        if (verdict != InstructionVerdict.Accepted) return (verdict, null);
        _accepted.Add(instruction!);
        _known.Add(PromptExclusion.Normalize(instruction!));
        _knownIndex.Add(instruction!);
        return (verdict, instruction);
    }

    private InstructionVerdict Check(string instruction)
    {
        int words = RougeL.Words(instruction).Count;
        string key = PromptExclusion.Normalize(instruction);
        if (words < _options.MinWords) return InstructionVerdict.TooShort;
        if (words > _options.MaxWords) return InstructionVerdict.TooLong;
        if (_excluded.Check(instruction) is InstructionVerdict excluded) return excluded;
        if (_known.Contains(key)) return InstructionVerdict.Duplicate;
        if (_knownIndex.ContainsNear(instruction, _options.MaxRougeL)) return InstructionVerdict.NearDuplicate;
        return InstructionVerdict.Accepted;
    }
}
