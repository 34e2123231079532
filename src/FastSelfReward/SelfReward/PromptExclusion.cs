namespace FastSelfReward.SelfReward;

/// <summary>
/// Evaluation prompts the loop must not generate or train on: a prompt is excluded when it equals one
/// (ignoring letter case and runs of white space) or when its ROUGE-L F with one reaches the threshold.
/// </summary>
public sealed class PromptExclusion
{
    private readonly HashSet<string> _exact = new(StringComparer.Ordinal);
    private readonly RougeLIndex _index = new();
    private readonly double _maxRougeL;

    /// <param name="prompts">The evaluation prompts.</param>
    /// <param name="maxRougeL">ROUGE-L F at or above which a prompt counts as the same task.</param>
    public PromptExclusion(IEnumerable<string> prompts, double maxRougeL)
    {
        _maxRougeL = maxRougeL;
        Prompts = [.. prompts];
        foreach (string p in Prompts)
        {
            _exact.Add(Normalize(p));
            _index.Add(p);
        }
    }

    /// <summary>The evaluation prompts, as given.</summary>
    public IReadOnlyList<string> Prompts { get; }

    /// <summary><see cref="InstructionVerdict.Excluded"/> for an exact match, <see cref="InstructionVerdict.NearExcluded"/> for a ROUGE-L one, else null.</summary>
    public InstructionVerdict? Check(string prompt) =>
        _exact.Contains(Normalize(prompt)) ? InstructionVerdict.Excluded
        : _index.ContainsNear(prompt, _maxRougeL) ? InstructionVerdict.NearExcluded
        : null;

    /// <summary>True when <paramref name="prompt"/> matches an evaluation prompt, exactly or by ROUGE-L.</summary>
    public bool Excludes(string prompt) => Check(prompt) is not null;

    internal static string Normalize(string text) =>
        string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();
}
