using FastSelfReward.Generation;

namespace FastSelfReward.Evaluation;

/// <summary>One prompt of a head-to-head comparison: both answers, the judge's outputs in both orders, their verdicts and the outcome for A.</summary>
public sealed record HeadToHeadItem(string Prompt, string AnswerA, string AnswerB, string JudgmentAFirst, string JudgmentBFirst,
    PairwiseVerdict AShownFirst, PairwiseVerdict BShownFirst, HeadToHeadOutcome Outcome);

/// <summary>
/// Model A against model B on the same prompts: a judge compares each pair of answers twice, once
/// with A's shown first and once with B's, and <see cref="HeadToHead.Combine"/> cancels the judge's
/// position bias. The answers are produced beforehand (<see cref="ChatModel.Answer"/>), so the two
/// models and the judge need not be in memory together.
/// </summary>
public static class HeadToHeadEvaluation
{
    /// <param name="judge">The judging model.</param>
    /// <param name="prompts">The user prompts.</param>
    /// <param name="answersA">Model A's answer to each prompt.</param>
    /// <param name="answersB">Model B's answer to each prompt.</param>
    /// <param name="sampling">The judge's sampling (greedy is usual: a verdict, not a sample).</param>
    public static (HeadToHeadResult Result, IReadOnlyList<HeadToHeadItem> Items) Judge(ChatModel judge, IReadOnlyList<string> prompts,
        IReadOnlyList<string> answersA, IReadOnlyList<string> answersB, SamplingOptions sampling)
    {
        if (answersA.Count != prompts.Count || answersB.Count != prompts.Count)
            throw new ArgumentException($"{prompts.Count} prompts, but {answersA.Count} answers of A and {answersB.Count} of B");
        // Both orders of every prompt in one batch: prompt i with A first is request 2i, with B first 2i+1.
        var judgePrompts = new List<string>(2 * prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
        {
            judgePrompts.Add(PairwiseJudge.Render(prompts[i], answersA[i], answersB[i]));
            judgePrompts.Add(PairwiseJudge.Render(prompts[i], answersB[i], answersA[i]));
        }
        var outputs = judge.Answer(judgePrompts, sampling);
        var items = new List<HeadToHeadItem>(prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
        {
            // A judge prompt too long for the context has no output: its verdict is invalid.
            string aFirst = outputs[2 * i].Count > 0 ? outputs[2 * i][0].Text : "", bFirst = outputs[2 * i + 1].Count > 0 ? outputs[2 * i + 1][0].Text : "";
            var (va, vb) = (PairwiseJudge.Parse(aFirst), PairwiseJudge.Parse(bFirst));
            items.Add(new HeadToHeadItem(prompts[i], answersA[i], answersB[i], aFirst, bFirst, va, vb, HeadToHead.Combine(va, vb)));
        }
        return (HeadToHead.Tally(items.Select(x => (x.AShownFirst, x.BShownFirst))), items);
    }
}
