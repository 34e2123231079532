using FastSelfReward.Data;
using FastSelfReward.Generation;

namespace FastSelfReward.SelfReward;

/// <summary>Why a prompt yielded no pair.</summary>
public enum PairDropReason
{
    /// <summary>Fewer than two answers that may be paired and have a mean score.</summary>
    FewerThanTwoScored,
    /// <summary>The highest and lowest mean scores are equal: no preference to learn.</summary>
    Tie,
    /// <summary>The best and worst answers have the same text (scored differently by sampling noise).</summary>
    IdenticalAnswers,
}

/// <summary>
/// What pair building saw: prompts, pairs, drops per reason, answers left out (truncated: finish
/// reason length; unscored: no parsed judge sample), and over the pairs the mean scores and the
/// mean and longest lengths in characters of chosen and rejected answers (NaN and 0 without pairs).
/// </summary>
public sealed record PairStats(
    int Prompts, int Pairs, IReadOnlyDictionary<PairDropReason, int> Dropped, int TruncatedAnswers, int UnscoredAnswers,
    double MeanScoreChosen, double MeanScoreRejected, double MeanLengthChosen, double MeanLengthRejected,
    int MaxLengthChosen, int MaxLengthRejected);

/// <summary>The pairs, in the order of the candidates file, and their statistics.</summary>
public sealed record PairBuildResult(IReadOnlyList<PairRecord> Pairs, PairStats Stats);

/// <summary>
/// Builds DPO pairs as the paper does: per prompt, among the answers that have a mean judge score,
/// the highest mean is chosen and the lowest rejected. An answer cut by its token budget is paired as
/// it is under <see cref="TruncatedAnswers.Keep"/> and never otherwise; a prompt with fewer than two
/// eligible answers, equal highest and lowest means, or identical chosen and rejected texts is
/// dropped. When several answers share the highest (or lowest) mean, the lowest candidate index wins.
/// </summary>
public static class PairBuilder
{
    /// <exception cref="ArgumentException">A judgment names a candidate twice or one the candidates file does not have, or a record's finish reasons do not match its candidates.</exception>
    public static PairBuildResult Build(IEnumerable<CandidatesRecord> candidates, IEnumerable<JudgmentRecord> judgments, TruncatedAnswers truncatedAnswers)
    {
        var means = new Dictionary<(string Id, int Candidate), double?>();
        foreach (JudgmentRecord j in judgments)
            if (!means.TryAdd((j.Id, j.Candidate), j.Mean))
                throw new ArgumentException($"judgments: candidate {j.Candidate} of '{j.Id}' is judged twice", nameof(judgments));

        var pairs = new List<PairRecord>();
        var dropped = Enum.GetValues<PairDropReason>().ToDictionary(r => r, _ => 0);
        var matched = new HashSet<(string, int)>();
        int prompts = 0, truncated = 0, unscored = 0;
        foreach (CandidatesRecord record in candidates)
        {
            prompts++;
            if (record.FinishReasons.Count != record.Candidates.Count)
                throw new ArgumentException($"candidates '{record.Id}': {record.FinishReasons.Count} finish reasons for {record.Candidates.Count} candidates", nameof(candidates));
            int best = -1, worst = -1, scored = 0;
            double bestScore = double.NegativeInfinity, worstScore = double.PositiveInfinity;
            for (int i = 0; i < record.Candidates.Count; i++)
            {
                bool judged = means.TryGetValue((record.Id, i), out double? mean);
                if (judged) matched.Add((record.Id, i));
                if (record.FinishReasons[i] != FinishReason.Stop)
                {
                    truncated++;
                    if (truncatedAnswers != TruncatedAnswers.Keep) continue;
                }
                if (mean is not double score) { unscored++; continue; }
                scored++;
                if (score > bestScore) (best, bestScore) = (i, score);
                if (score < worstScore) (worst, worstScore) = (i, score);
            }
            PairDropReason? drop = scored < 2 ? PairDropReason.FewerThanTwoScored
                : bestScore == worstScore ? PairDropReason.Tie
                : record.Candidates[best] == record.Candidates[worst] ? PairDropReason.IdenticalAnswers
                : null;
            if (drop is PairDropReason reason) dropped[reason]++;
            else pairs.Add(new PairRecord(record.Prompt, record.Candidates[best], record.Candidates[worst], bestScore, worstScore));
        }
        if (matched.Count != means.Count)
            throw new ArgumentException($"judgments: {means.Count - matched.Count} judgment(s) name a prompt id or candidate index the candidates do not have", nameof(judgments));

        return new PairBuildResult(pairs, new PairStats(prompts, pairs.Count, dropped, truncated, unscored,
            Mean(pairs, p => p.ScoreChosen), Mean(pairs, p => p.ScoreRejected),
            Mean(pairs, p => p.Chosen.Length), Mean(pairs, p => p.Rejected.Length),
            pairs.Count == 0 ? 0 : pairs.Max(p => p.Chosen.Length), pairs.Count == 0 ? 0 : pairs.Max(p => p.Rejected.Length)));
    }

    private static double Mean(List<PairRecord> pairs, Func<PairRecord, double> value) => pairs.Count == 0 ? double.NaN : pairs.Average(value);
}
