using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Evaluation;

/// <summary>
/// A model as a reward model: on held-out ranked EFT sets it judges every response with the judge
/// template <c>k</c> times; the mean of the parsed scores (parse failures left out) is compared with
/// the human ranks by <see cref="RewardModelMetrics"/> (the paper's reward-modelling table).
/// </summary>
public static class RewardModelEvaluation
{
    /// <param name="model">The judging model.</param>
    /// <param name="template">The judge prompt.</param>
    /// <param name="sets">Ranked sets (0 is the best rank).</param>
    /// <param name="sampling">The judge's sampling.</param>
    /// <param name="samples">Judgments per response, averaged.</param>
    /// <returns>The report, each set's ranks and mean scores, and the number of judgments that did not parse.</returns>
    public static (RewardModelReport Report, IReadOnlyList<RankedScores> Sets, int ParseFailures) Run(ChatModel model, JudgeTemplate template,
        IReadOnlyList<EftRecord> sets, SamplingOptions sampling, int samples)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        var prompts = sets.SelectMany(s => s.Responses.Select(r => template.Render(s.Prompt, r.Text))).ToList();
        var outputs = model.Answer(prompts, sampling, samples);
        var scored = new List<RankedScores>(sets.Count);
        int next = 0, failures = 0;
        foreach (var set in sets)
        {
            var means = new List<double?>(set.Responses.Count);
            foreach (var _ in set.Responses)
            {
                // A judge prompt too long for the context has no samples: the response is unscored.
                var judgment = JudgeScore.Judge("", 0, outputs[next++].Select(a => a.Text));
                failures += judgment.Samples.Count(s => s.Score is null);
                means.Add(judgment.Mean);
            }
            scored.Add(new RankedScores(set.Responses.Select(r => r.Rank).ToList(), means));
        }
        return (RewardModelMetrics.Compute(scored), scored, failures);
    }
}
