namespace FastSelfReward.Data;

/// <summary>How Open Assistant trees are converted.</summary>
public sealed record OasstOptions
{
    /// <summary>The language code prompts and answers must carry (OASST's <c>lang</c>, compared case-insensitively).</summary>
    public string Lang { get; init; } = "en";

    /// <summary>The share of trees that go to the evaluation split.</summary>
    public double EvalFraction { get; init; } = 0.1;

    /// <summary>Keys the split: the same seed and tree id always land in the same split.</summary>
    public ulong Seed { get; init; }

    /// <summary>What a malformed tree line does: stop, or skip and count it in <see cref="OasstStats.SkippedLines"/>.</summary>
    public JsonlErrorMode ErrorMode { get; init; } = JsonlErrorMode.Stop;
}

/// <summary>The IFT examples and ranked EFT sets of one split.</summary>
public sealed record OasstSplit(IReadOnlyList<IftRecord> Ift, IReadOnlyList<EftRecord> Eft);

/// <summary>
/// What the conversion met. A prompt is <see cref="RemovedPrompts"/> when deleted, failed review, blank or not a prompter message;
/// <see cref="RemovedReplies"/> counts first-turn answers dropped as deleted, failed review, blank or
/// in another language; a prompt without a usable rank-0 answer yields no IFT example
/// (<see cref="WithoutBestReply"/>), one with fewer than two usable ranked answers no EFT set
/// (<see cref="TooFewRanked"/>).
/// </summary>
public sealed record OasstStats(int Trees, int SkippedLines, int OtherLanguage, int RemovedPrompts, int RemovedReplies, int WithoutBestReply, int TooFewRanked);

/// <summary>The converted data: train and eval splits (disjoint by tree) and counts.</summary>
public sealed record OasstConversion(OasstSplit Train, OasstSplit Eval, OasstStats Stats)
{
    /// <summary>Writes <c>ift_train.jsonl</c>, <c>ift_eval.jsonl</c>, <c>eft_train.jsonl</c> and <c>eft_eval.jsonl</c> into <paramref name="directory"/>.</summary>
    public void WriteTo(string directory)
    {
        Jsonl.WriteAll(Path.Combine(directory, "ift_train.jsonl"), Train.Ift);
        Jsonl.WriteAll(Path.Combine(directory, "ift_eval.jsonl"), Eval.Ift);
        Jsonl.WriteAll(Path.Combine(directory, "eft_train.jsonl"), Train.Eft);
        Jsonl.WriteAll(Path.Combine(directory, "eft_eval.jsonl"), Eval.Eft);
    }
}

/// <summary>
/// Converts Open Assistant message-tree exports (oasst1/oasst2 <c>*.trees.jsonl</c>: one tree per line,
/// a prompter message with nested assistant replies) into first-turn data, as the paper's seed sets:
/// IFT pairs each prompt in the chosen language with its human rank-0 answer; EFT keeps each prompt
/// with every usable ranked answer when there are at least two, best rank first. Only the first turn
/// is used. A whole tree goes to train or to eval, decided by a seeded hash of its
/// <c>message_tree_id</c>, so no prompt leaks between the splits and reruns split identically.
/// </summary>
public static class OasstConverter
{
    // Trees nest two JSON levels per turn; long threads pass System.Text.Json's default depth of 64.
    private static readonly System.Text.Json.JsonSerializerOptions TreeOptions = Jsonl.CreateOptions(maxDepth: 2048);

    /// <exception cref="JsonlFormatException">A malformed line in <see cref="JsonlErrorMode.Stop"/> mode.</exception>
    public static OasstConversion Convert(string treesPath, OasstOptions? options = null)
    {
        options ??= new OasstOptions();
        if (!(options.EvalFraction >= 0 && options.EvalFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.EvalFraction, "eval fraction must lie in [0, 1]");
        var train = (Ift: new List<IftRecord>(), Eft: new List<EftRecord>());
        var eval = (Ift: new List<IftRecord>(), Eft: new List<EftRecord>());
        int trees = 0, skipped = 0, otherLanguage = 0, removedPrompts = 0, removedReplies = 0, withoutBest = 0, tooFew = 0;
        foreach (OasstTree tree in Jsonl.Read<OasstTree>(treesPath, options.ErrorMode, _ => skipped++, Jsonl.DefaultMaxLineBytes, TreeOptions))
        {
            trees++;
            OasstMessage prompt = tree.Prompt;
            if (!SameLanguage(prompt.Lang, options.Lang)) { otherLanguage++; continue; }
            if (Removed(prompt) || prompt.Role != "prompter") { removedPrompts++; continue; }
            var replies = new List<OasstMessage>();
            foreach (OasstMessage reply in prompt.Replies ?? [])
            {
                if (reply is null || reply.Role != "assistant") continue;
                if (Removed(reply) || !SameLanguage(reply.Lang ?? prompt.Lang, options.Lang)) removedReplies++;
                else replies.Add(reply);
            }
            var split = StableHash.Unit(tree.MessageTreeId, options.Seed) < options.EvalFraction ? eval : train;
            if (replies.FirstOrDefault(r => r.Rank == 0) is OasstMessage best) split.Ift.Add(new IftRecord(prompt.Text, best.Text));
            else withoutBest++;
            // OrderBy is stable: equal ranks keep the export's order.
            var ranked = replies.Where(r => r.Rank is not null).OrderBy(r => r.Rank).ToList();
            if (ranked.Count >= 2) split.Eft.Add(new EftRecord(prompt.Text, ranked.Select(r => new RankedResponse(r.Text, r.Rank!.Value)).ToList()));
            else tooFew++;
        }
        return new OasstConversion(new OasstSplit(train.Ift, train.Eft), new OasstSplit(eval.Ift, eval.Eft),
            new OasstStats(trees, skipped, otherLanguage, removedPrompts, removedReplies, withoutBest, tooFew));
    }

    // Not deleted, not failed review (null means not reviewed, which the exports keep), and not blank.
    private static bool Removed(OasstMessage m) => m.Deleted == true || m.ReviewResult == false || string.IsNullOrWhiteSpace(m.Text);

    private static bool SameLanguage(string? lang, string wanted) => string.Equals(lang, wanted, StringComparison.OrdinalIgnoreCase);

    internal sealed record OasstTree(string MessageTreeId, OasstMessage Prompt);

    internal sealed record OasstMessage(string Text, string Role, string? Lang = null, bool? Deleted = null,
        bool? ReviewResult = null, int? Rank = null, IReadOnlyList<OasstMessage>? Replies = null);
}
