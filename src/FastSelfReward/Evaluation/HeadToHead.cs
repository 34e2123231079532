namespace FastSelfReward.Evaluation;

/// <summary>A pairwise judge's decision about the two answers in the order it was shown them.</summary>
public enum PairwiseVerdict
{
    /// <summary>The answer shown first is better.</summary>
    First,
    /// <summary>The answer shown second is better.</summary>
    Second,
    Tie,
    /// <summary>The judge's output gave no decision.</summary>
    Invalid,
}

/// <summary>The result of one prompt for model A against model B.</summary>
public enum HeadToHeadOutcome { Win, Tie, Loss, Invalid }

/// <summary>Win/tie/loss counts for model A against B; rates are over the valid prompts (NaN when none), so they sum to 1.</summary>
public sealed record HeadToHeadResult(int Wins, int Ties, int Losses, int Invalid)
{
    public int Valid => Wins + Ties + Losses;
    public double WinRate => Rate(Wins);
    public double TieRate => Rate(Ties);
    public double LossRate => Rate(Losses);

    private double Rate(int count) => Valid == 0 ? double.NaN : (double)count / Valid;
}

/// <summary>
/// Combines a judge's decisions in both presentation orders, to cancel position bias. Each order gives
/// A +1 (A preferred), 0 (tie) or −1 (B preferred); the prompt's outcome is the sign of the sum. So A wins
/// when it wins both orders or wins one and ties the other; a win in one order and a loss in the other
/// (the judge followed position, not content) is a tie, as are two ties. A prompt with an invalid
/// decision in either order is Invalid: counted, and left out of the rates.
/// </summary>
public static class HeadToHead
{
    /// <param name="aShownFirst">The verdict when A's answer was shown first.</param>
    /// <param name="bShownFirst">The verdict when B's answer was shown first.</param>
    public static HeadToHeadOutcome Combine(PairwiseVerdict aShownFirst, PairwiseVerdict bShownFirst)
    {
        if (aShownFirst == PairwiseVerdict.Invalid || bShownFirst == PairwiseVerdict.Invalid) return HeadToHeadOutcome.Invalid;
        int sum = ForFirst(aShownFirst) - ForFirst(bShownFirst);
        return sum > 0 ? HeadToHeadOutcome.Win : sum < 0 ? HeadToHeadOutcome.Loss : HeadToHeadOutcome.Tie;
    }

    /// <summary>Counts the outcomes of every prompt's two verdicts (see <see cref="Combine"/>).</summary>
    public static HeadToHeadResult Tally(IEnumerable<(PairwiseVerdict AShownFirst, PairwiseVerdict BShownFirst)> verdicts) =>
        Count(verdicts.Select(v => Combine(v.AShownFirst, v.BShownFirst)));

    /// <summary>Counts outcomes.</summary>
    public static HeadToHeadResult Count(IEnumerable<HeadToHeadOutcome> outcomes)
    {
        int[] counts = new int[4];
        foreach (var outcome in outcomes) counts[(int)outcome]++;
        return new HeadToHeadResult(counts[(int)HeadToHeadOutcome.Win], counts[(int)HeadToHeadOutcome.Tie],
            counts[(int)HeadToHeadOutcome.Loss], counts[(int)HeadToHeadOutcome.Invalid]);
    }

    // +1 when the answer shown first is preferred.
    private static int ForFirst(PairwiseVerdict verdict) => verdict switch
    {
        PairwiseVerdict.First => 1,
        PairwiseVerdict.Second => -1,
        _ => 0,
    };
}
