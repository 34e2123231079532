using FastSelfReward.Evaluation;
using FastSelfReward.Generation;

namespace FastSelfReward.Demo;

/// <summary>One held-out prompt answered greedily by a model, with the oracle's verdict.</summary>
/// <param name="Id">The prompt's id in eval_prompts.jsonl.</param>
/// <param name="Prompt">The held-out prompt.</param>
/// <param name="Answer">The model's greedy answer.</param>
/// <param name="Finish">Whether it stopped or ran out of tokens.</param>
/// <param name="Score">The oracle's 0–5 score.</param>
/// <param name="Correct">True when the stated answer is exactly right.</param>
public sealed record EvaluatedAnswer(string Id, string Prompt, string Answer, FinishReason Finish, int Score, bool Correct);

/// <summary>
/// What the oracle measured of one model: its greedy answers to the held-out prompts, one answer to each
/// sampled with the loop's candidate sampling (the policy as the loop sees it) and, as a judge,
/// its mean score of every response of every held-out ranked set (null where no sample parsed).
/// Stored per model so a rerun does not evaluate a finished model again.
/// </summary>
public sealed record ModelEvaluation(string Model, IReadOnlyList<EvaluatedAnswer> Answers, IReadOnlyList<EvaluatedAnswer> SampledAnswers,
    IReadOnlyList<IReadOnlyList<double?>> JudgeScores)
{
    public double MeanScore => Answers.Count == 0 ? double.NaN : Answers.Average(a => a.Score);
    /// <summary>Mean oracle score of the sampled answers.</summary>
    public double MeanSampledScore => SampledAnswers.Count == 0 ? double.NaN : SampledAnswers.Average(a => a.Score);
    public double ExactCorrect => Answers.Count == 0 ? double.NaN : Answers.Count(a => a.Correct) / (double)Answers.Count;
    /// <summary>Mean answer length in characters (the paper reports length growth over iterations).</summary>
    public double MeanLength => Answers.Count == 0 ? double.NaN : Answers.Average(a => a.Answer.Length);
    /// <summary>Share of answers cut off by the token budget.</summary>
    public double Truncated => Answers.Count == 0 ? double.NaN : Answers.Count(a => a.Finish == FinishReason.Length) / (double)Answers.Count;

    /// <summary>The judge's reward-model metrics against the oracle's ranks of the same sets.</summary>
    public RewardModelReport RewardModel(IReadOnlyList<IReadOnlyList<int>> ranks) =>
        RewardModelMetrics.Compute(ranks.Select((r, i) => new RankedScores(r, JudgeScores[i])));

    /// <summary>
    /// Per held-out prompt, +1 when this model's answer scores higher than <paramref name="baseline"/>'s,
    /// −1 when lower, 0 when equal; greedy answers, or the sampled ones with <paramref name="sampled"/>.
    /// </summary>
    public IReadOnlyList<double> Outcomes(ModelEvaluation baseline, bool sampled = false)
    {
        var theirs = (sampled ? baseline.SampledAnswers : baseline.Answers).ToDictionary(a => a.Id, a => a.Score);
        return (sampled ? SampledAnswers : Answers).Select(a => (double)Math.Sign(a.Score - theirs[a.Id])).ToList();
    }
}
