using FastSelfReward.Data;

namespace FastSelfReward.SelfReward;

/// <summary>How judge training examples are built.</summary>
public sealed record EftBuildOptions
{
    /// <summary>Renders the judge prompt of each example.</summary>
    public JudgeTemplate Template { get; init; } = JudgeTemplate.Default;

    /// <summary>The length of an example as the trainer will see it (e.g. its token count with the chat template); null skips the check.</summary>
    public Func<JudgeExample, int>? Length { get; init; }

    /// <summary>Examples longer than this are dropped, never truncated.</summary>
    public int ContextWindow { get; init; } = int.MaxValue;

    /// <summary>Model-written mode: down-sample the most frequent score.</summary>
    public bool DownsampleMostFrequent { get; init; } = true;

    /// <summary>How many examples of the most frequent score to keep; null keeps as many as the second most frequent score has.</summary>
    public int? MostFrequentCap { get; init; }

    /// <summary>Keys which examples of the most frequent score survive.</summary>
    public ulong Seed { get; init; }
}

/// <summary>A ranked set and, per response (same order), the judge outputs the SFT baseline sampled for it.</summary>
public sealed record EftJudgedSet(EftRecord Record, IReadOnlyList<IReadOnlyList<string>> Judgments);

/// <summary>Why a judge example (one response of a ranked set) was not kept.</summary>
public enum EftDropReason
{
    /// <summary>Gold mode: the response carries no judgment.</summary>
    NoJudgment,
    /// <summary>Gold mode: the judgment has no well-formed score; model mode: some response of the set has none, so the set's order is unknown.</summary>
    Unparsed,
    /// <summary>Model mode: the set's scores do not order its responses as the human ranks do.</summary>
    RankDisagreement,
    /// <summary>The example is longer than the context window.</summary>
    TooLong,
    /// <summary>Model mode: removed by down-sampling the most frequent score.</summary>
    Downsampled,
}

/// <summary>
/// What the builder did: ranked sets read, sets whose judgments agreed with the human ranking (model
/// mode), examples kept, examples dropped per reason (counted per response), and kept examples per score.
/// </summary>
public sealed record EftBuildStats(int Sets, int AgreeingSets, int Examples, IReadOnlyDictionary<EftDropReason, int> Dropped, IReadOnlyDictionary<double, int> ScoreCounts);

public sealed record EftBuildResult(IReadOnlyList<JudgeExample> Examples, EftBuildStats Stats);

/// <summary>
/// Builds evaluation-fine-tuning (judge) examples: the judge prompt of a response and a judgment
/// that ends with its score line (text after the verdict line is cut, so the judge learns to stop there).
/// </summary>
public static class EftBuilder
{
    /// <summary>
    /// Gold mode: every response that carries a judgment with a well-formed score becomes an example.
    /// </summary>
    public static EftBuildResult FromGold(IEnumerable<EftRecord> records, EftBuildOptions? options = null)
    {
        options ??= new EftBuildOptions();
        var dropped = NewCounts();
        var examples = new List<(JudgeExample Example, double Score)>();
        int sets = 0;
        foreach (EftRecord record in records)
        {
            sets++;
            foreach (RankedResponse response in record.Responses)
            {
                if (response.Judgment is null) { dropped[EftDropReason.NoJudgment]++; continue; }
                if (Example(record.Prompt, response.Text, response.Judgment, options) is not var (example, score)) { dropped[EftDropReason.Unparsed]++; continue; }
                examples.Add((example, score));
            }
        }
        return Finish(LengthChecked(examples, options, dropped), sets, 0, dropped);
    }

    /// <summary>
    /// Model-written mode. Each response's score is the mean of its parsed samples, and its example uses
    /// the parsed sample nearest that mean (the earliest on a tie). A set is kept only when every response
    /// has a score and the scores agree with the human ranking exactly: for every two responses with
    /// different ranks, the better-ranked one has the strictly higher score (a tie in score between
    /// differently ranked responses is a disagreement; equally ranked responses may score anything).
    /// Then examples longer than the context window are dropped and, when enabled, the most frequent
    /// score is down-sampled to the cap by a seeded hash of each example, so the choice does not depend on
    /// input order. With a single distinct score and no explicit cap nothing is down-sampled.
    /// </summary>
    /// <exception cref="ArgumentException">A set's judgment lists do not match its responses, or the cap is negative.</exception>
    public static EftBuildResult FromModelJudgments(IEnumerable<EftJudgedSet> sets, EftBuildOptions? options = null)
    {
        options ??= new EftBuildOptions();
        if (options.MostFrequentCap < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MostFrequentCap, "the cap on the most frequent score must be ≥ 0");
        var dropped = NewCounts();
        var examples = new List<(JudgeExample Example, double Score)>();
        int count = 0, agreeing = 0;
        foreach (EftJudgedSet set in sets)
        {
            count++;
            var responses = set.Record.Responses;
            if (set.Judgments.Count != responses.Count)
                throw new ArgumentException($"set {count}: {set.Judgments.Count} judgment lists for {responses.Count} responses", nameof(sets));
            var chosen = new (JudgeExample Example, double Score)[responses.Count];
            bool complete = true;
            for (int i = 0; i < responses.Count && complete; i++)
            {
                string? judgment = Representative(set.Judgments[i]);
                if (judgment is null || Example(set.Record.Prompt, responses[i].Text, judgment, options) is not var (example, score)) complete = false;
                else chosen[i] = (example, score);
            }
            if (!complete) { dropped[EftDropReason.Unparsed] += responses.Count; continue; }
            if (!AgreesWithRanks(responses, chosen)) { dropped[EftDropReason.RankDisagreement] += responses.Count; continue; }
            agreeing++;
            examples.AddRange(chosen);
        }
        var kept = LengthChecked(examples, options, dropped);
        if (options.DownsampleMostFrequent) kept = Downsample(kept, options, dropped);
        return Finish(kept, count, agreeing, dropped);
    }

    private static string? Representative(IReadOnlyList<string> samples)
    {
        var parsed = samples.Select(s => (Text: s, Score: JudgeScore.Parse(s))).Where(s => s.Score is not null).ToList();
        if (parsed.Count == 0) return null;
        double mean = parsed.Average(s => s.Score!.Value);
        // MinBy keeps the first of equal keys: the earliest sample wins a tie.
        return parsed.MinBy(s => Math.Abs(s.Score!.Value - mean)).Text;
    }

    private static bool AgreesWithRanks(IReadOnlyList<RankedResponse> responses, (JudgeExample, double Score)[] scored)
    {
        for (int i = 0; i < responses.Count; i++)
            for (int j = 0; j < responses.Count; j++)
                if (responses[i].Rank < responses[j].Rank && !(scored[i].Score > scored[j].Score)) return false;
        return true;
    }

    private static (JudgeExample, double)? Example(string prompt, string response, string judgment, EftBuildOptions options)
    {
        var (score, end) = JudgeScore.ParseVerdict(judgment);
        if (score is not double s) return null;
        return (new JudgeExample(options.Template.Render(prompt, response), judgment[..end].Trim()), s);
    }

    private static List<(JudgeExample Example, double Score)> LengthChecked(List<(JudgeExample Example, double Score)> examples, EftBuildOptions options, Dictionary<EftDropReason, int> dropped)
    {
        if (options.Length is null) return examples;
        var kept = examples.Where(e => options.Length(e.Example) <= options.ContextWindow).ToList();
        dropped[EftDropReason.TooLong] += examples.Count - kept.Count;
        return kept;
    }

    private static List<(JudgeExample Example, double Score)> Downsample(List<(JudgeExample Example, double Score)> examples, EftBuildOptions options, Dictionary<EftDropReason, int> dropped)
    {
        var byFrequency = examples.GroupBy(e => e.Score).Select(g => (Score: g.Key, Count: g.Count()))
            .OrderByDescending(g => g.Count).ThenByDescending(g => g.Score).ToList();
        if (byFrequency.Count == 0) return examples;
        int? cap = options.MostFrequentCap ?? (byFrequency.Count > 1 ? byFrequency[1].Count : null);
        if (cap is not int limit || byFrequency[0].Count <= limit) return examples;
        double frequent = byFrequency[0].Score;
        var survivors = examples.Where(e => e.Score == frequent)
            .OrderBy(e => StableHash.Of(e.Example.Prompt + "\u0000" + e.Example.Response, options.Seed))
            .Take(limit).Select(e => e.Example).ToHashSet(ReferenceEqualityComparer.Instance);
        dropped[EftDropReason.Downsampled] += byFrequency[0].Count - limit;
        return examples.Where(e => e.Score != frequent || survivors.Contains(e.Example)).ToList();
    }

    private static EftBuildResult Finish(List<(JudgeExample Example, double Score)> examples, int sets, int agreeing, Dictionary<EftDropReason, int> dropped) =>
        new(examples.Select(e => e.Example).ToList(), new EftBuildStats(sets, agreeing, examples.Count, dropped,
            new SortedDictionary<double, int>(examples.GroupBy(e => e.Score).ToDictionary(g => g.Key, g => g.Count()))));

    private static Dictionary<EftDropReason, int> NewCounts() => Enum.GetValues<EftDropReason>().ToDictionary(r => r, _ => 0);
}
