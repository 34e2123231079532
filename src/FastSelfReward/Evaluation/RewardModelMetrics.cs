namespace FastSelfReward.Evaluation;

/// <summary>One held-out ranked set: human ranks (0 best; equal ranks are a human tie) and the judge's mean scores, null where no sample parsed.</summary>
public sealed record RankedScores(IReadOnlyList<int> HumanRanks, IReadOnlyList<double?> Scores);

/// <summary>
/// The paper's reward-modelling measures. Fractions lie in [0, 1] (×100 for the paper's percentages);
/// a measure with nothing to measure is NaN.
/// </summary>
/// <param name="Sets">Sets measured: those with at least two scored responses.</param>
/// <param name="SkippedSets">Sets with fewer than two scored responses, left out of every measure.</param>
/// <param name="UnscoredResponses">Responses without a score, left out (their set is measured on the rest).</param>
/// <param name="Pairs">Response pairs with different human ranks, the denominator of <paramref name="PairwiseAccuracy"/>.</param>
/// <param name="CorrectPairs">Of those, the pairs the judge orders as humans do, the numerator.</param>
/// <param name="PairwiseAccuracy">Share of those pairs the judge orders as humans do, by a strictly higher score for the better-ranked response; a score tie counts as wrong.</param>
/// <param name="TopScored">Responses given the top score (5), the denominator of <paramref name="FiveBest"/>.</param>
/// <param name="FiveBest">Share of top-scored responses that humans ranked best in their set.</param>
/// <param name="ExactMatch">Share of sets where the judge's order equals the human order exactly: for every two responses, score comparison and rank comparison agree (a score tie only where ranks tie).</param>
/// <param name="Spearman">Mean over sets of Spearman's ρ between −rank and score (average ranks for ties); a set where either side is constant contributes 0.</param>
/// <param name="KendallTau">Mean over sets of Kendall's τ-b between −rank and score; a set where either side is constant contributes 0.</param>
public sealed record RewardModelReport(
    int Sets, int SkippedSets, int UnscoredResponses, int Pairs, int CorrectPairs, double PairwiseAccuracy,
    int TopScored, double FiveBest, double ExactMatch, double Spearman, double KendallTau);

/// <summary>
/// Measures a judge against human rankings (the paper's reward-modelling table). Constant-side sets
/// count 0 in the correlation means rather than being skipped, so a judge that gives every answer the
/// same score is not flattered by having its uninformative sets removed.
/// </summary>
public static class RewardModelMetrics
{
    /// <exception cref="ArgumentException">A set's ranks and scores differ in length.</exception>
    public static RewardModelReport Compute(IEnumerable<RankedScores> sets, double topScore = 5)
    {
        int measured = 0, skipped = 0, unscored = 0, pairs = 0, correct = 0, topScored = 0, topBest = 0, exact = 0;
        double spearman = 0, kendall = 0;
        foreach (RankedScores set in sets)
        {
            if (set.HumanRanks.Count != set.Scores.Count)
                throw new ArgumentException($"a set has {set.HumanRanks.Count} ranks and {set.Scores.Count} scores", nameof(sets));
            var kept = Enumerable.Range(0, set.Scores.Count).Where(i => set.Scores[i] is not null).ToArray();
            unscored += set.Scores.Count - kept.Length;
            if (kept.Length < 2) { skipped++; continue; }
            measured++;
            double[] score = kept.Select(i => set.Scores[i]!.Value).ToArray();
            double[] goodness = kept.Select(i => -(double)set.HumanRanks[i]).ToArray();

            bool allAgree = true;
            for (int i = 0; i < score.Length; i++)
                for (int j = i + 1; j < score.Length; j++)
                {
                    int human = Math.Sign(goodness[i] - goodness[j]), model = Math.Sign(score[i] - score[j]);
                    if (human != model) allAgree = false;
                    if (human == 0) continue;
                    pairs++;
                    if (human == model) correct++;
                }
            if (allAgree) exact++;

            double best = goodness.Max();
            for (int i = 0; i < score.Length; i++)
                if (score[i] >= topScore)
                {
                    topScored++;
                    if (goodness[i] == best) topBest++;
                }
            spearman += ZeroIfUndefined(RankCorrelation.Spearman(goodness, score));
            kendall += ZeroIfUndefined(RankCorrelation.KendallTauB(goodness, score));
        }
        return new RewardModelReport(measured, skipped, unscored, pairs, correct, Ratio(correct, pairs), topScored, Ratio(topBest, topScored),
            Ratio(exact, measured), measured == 0 ? double.NaN : spearman / measured, measured == 0 ? double.NaN : kendall / measured);
    }

    private static double Ratio(int count, int total) => total == 0 ? double.NaN : (double)count / total;

    private static double ZeroIfUndefined(double value) => double.IsNaN(value) ? 0 : value;
}
