using FastSelfReward.Evaluation;

namespace FastSelfReward.Demo;

/// <summary>One seed of the loop: its run folder and every model's evaluation (SFT first).</summary>
public sealed record SeedRun(int Seed, string RunFolder, IReadOnlyList<ModelEvaluation> Evaluations);

/// <summary>What one seed's loop made and trained on: every model's row and every iteration's measures.</summary>
public sealed record SeedSummary(int Seed, IReadOnlyList<ModelRow> Models, IReadOnlyList<IterationMeasures> Iterations);

/// <summary>
/// A head to head against SFT by oracle score, over one seed or pooled over several: wins, ties and
/// losses summed over every (seed, prompt); the margin (win rate minus loss rate) is the mean over
/// prompts of each prompt's mean outcome over seeds, and its 95% interval resamples prompts, each with
/// all its seeds, so that one prompt's correlated outcomes are never counted as independent. Over
/// one seed this is the paired bootstrap over prompts.
/// </summary>
public sealed record HeadToHeadMargin(int Wins, int Ties, int Losses, double Margin, Interval MarginInterval, IReadOnlyList<double> MarginPerSeed)
{
    public int Outcomes => Wins + Ties + Losses;
    public double WinRate => Rate(Wins);
    public double TieRate => Rate(Ties);
    public double LossRate => Rate(Losses);

    private double Rate(int count) => Outcomes == 0 ? double.NaN : (double)count / Outcomes;
}

/// <summary>
/// One model pooled over the demo's seeds (independent runs of the loop from the same data, M0 and
/// prompt writer): head to head against SFT for greedy and sampled answers, and the judge's pairwise
/// accuracy as correct pairs over pairs of every seed, with a 95% interval that resamples ranked sets.
/// </summary>
public sealed record PooledModel(string Model, HeadToHeadMargin VsSft, HeadToHeadMargin VsSftSampled,
    double JudgeAccuracy, Interval JudgeAccuracyInterval, IReadOnlyList<double> JudgeAccuracyPerSeed);

/// <summary>One iteration pooled over seeds: the oracle's verdicts on the pairs of every seed.</summary>
public sealed record PooledIteration(int Iteration, int Prompts, int TaskPrompts, int ChosenBetter, int ChosenWorse, int ChosenEqual,
    IReadOnlyList<double> ChosenBetterPerSeed)
{
    public double TaskShare => IterationMeasures.Ratio(TaskPrompts, Prompts);
    public double ChosenBetterShare => IterationMeasures.Ratio(ChosenBetter, ChosenBetter + ChosenWorse);
}

/// <summary>
/// The judges' pairwise accuracy on the held-out pairs of one kind: a response the oracle scores
/// <paramref name="Better"/> against one it scores <paramref name="Worse"/> of the same set. Since the
/// oracle's score counts the rubric's criteria up to the first that fails, the worse response fails
/// criterion <c>Worse + 1</c>, so each kind shows whether the judge sees one criterion. Per model (SFT
/// excluded), counted over every seed; a pair with an unscored response is left out.
/// </summary>
/// <param name="Better">The oracle's score of the better response.</param>
/// <param name="Worse">The oracle's score of the worse one.</param>
/// <param name="Models">The judges, in order: M1, M2, ...</param>
/// <param name="Pairs">Per model, the pairs of this kind it scored both of, over the seeds.</param>
/// <param name="Correct">Per model, those it ordered as the oracle does (a tie counts as wrong).</param>
public sealed record JudgePairKind(int Better, int Worse, IReadOnlyList<string> Models, IReadOnlyList<int> Pairs, IReadOnlyList<int> Correct)
{
    /// <summary>Per model, correct over pairs.</summary>
    public IReadOnlyList<double> Accuracy => Pairs.Select((n, m) => IterationMeasures.Ratio(Correct[m], n)).ToList();
}

/// <summary>Pools the seeds' evaluations and iteration measures.</summary>
public static class SeedPooling
{
    /// <summary>Every model (in the order of the first seed) pooled over <paramref name="seeds"/>.</summary>
    /// <exception cref="ArgumentException">The seeds evaluated different models or prompts.</exception>
    public static IReadOnlyList<PooledModel> Models(IReadOnlyList<SeedRun> seeds, IReadOnlyList<IReadOnlyList<int>> ranks)
    {
        var names = seeds[0].Evaluations.Select(e => e.Model).ToList();
        if (seeds.Any(s => !s.Evaluations.Select(e => e.Model).SequenceEqual(names)))
            throw new ArgumentException("the seeds evaluated different models", nameof(seeds));
        return names.Select((name, m) => new PooledModel(name,
            HeadToHead(seeds.Select(s => (s.Evaluations[m], s.Evaluations[0])), sampled: false),
            HeadToHead(seeds.Select(s => (s.Evaluations[m], s.Evaluations[0])), sampled: true),
            JudgeAccuracy(seeds, m, ranks, out var interval, out var perSeed), interval, perSeed)).ToList();
    }

    /// <summary>Every iteration pooled over the seeds' measures.</summary>
    public static IReadOnlyList<PooledIteration> Iterations(IReadOnlyList<SeedSummary> seeds) =>
        seeds[0].Iterations.Select((_, t) =>
        {
            var all = seeds.Select(s => s.Iterations[t]).ToList();
            return new PooledIteration(t + 1, all.Sum(i => i.Prompts), all.Sum(i => i.TaskPrompts), all.Sum(i => i.ChosenBetter),
                all.Sum(i => i.ChosenWorse), all.Sum(i => i.ChosenEqual), all.Select(i => i.ChosenBetterShare).ToList());
        }).ToList();

    /// <summary>Each seed's model against that seed's baseline, greedy answers or the sampled ones, pooled.</summary>
    /// <exception cref="ArgumentException">The seeds answered different numbers of prompts.</exception>
    public static HeadToHeadMargin HeadToHead(IEnumerable<(ModelEvaluation Model, ModelEvaluation Baseline)> seeds, bool sampled)
    {
        var outcomes = seeds.Select(s => s.Model.Outcomes(s.Baseline, sampled)).ToList();
        int prompts = outcomes[0].Count;
        if (outcomes.Any(o => o.Count != prompts)) throw new ArgumentException("the seeds answered different numbers of prompts", nameof(seeds));
        var perPrompt = Enumerable.Range(0, prompts).Select(p => outcomes.Average(o => o[p])).ToList();
        var all = outcomes.SelectMany(o => o).ToList();
        return new HeadToHeadMargin(all.Count(o => o > 0), all.Count(o => o == 0), all.Count(o => o < 0),
            prompts == 0 ? double.NaN : perPrompt.Average(), Bootstrap.MeanInterval(perPrompt), outcomes.Select(o => o.Count == 0 ? double.NaN : o.Average()).ToList());
    }

    /// <summary>
    /// The judges' accuracy on each kind of held-out pair (<see cref="JudgePairKind"/>), ordered by the
    /// criterion the worse response fails, then by the better one's score, highest first.
    /// </summary>
    /// <param name="seeds">Every seed's evaluations, SFT first.</param>
    /// <param name="oracleScores">The oracle's score of every response of every held-out ranked set, in file order.</param>
    /// <exception cref="ArgumentException">A seed's judge scores do not match the sets' shapes.</exception>
    public static IReadOnlyList<JudgePairKind> JudgeByPairKind(IReadOnlyList<SeedRun> seeds, IReadOnlyList<IReadOnlyList<int>> oracleScores)
    {
        var judges = seeds[0].Evaluations.Skip(1).Select(e => e.Model).ToList();
        var counts = new Dictionary<(int Better, int Worse), (int[] Pairs, int[] Correct)>();
        foreach (var seed in seeds)
            for (int m = 0; m < judges.Count; m++)
            {
                var scores = seed.Evaluations[m + 1].JudgeScores;
                if (scores.Count != oracleScores.Count || scores.Where((s, i) => s.Count != oracleScores[i].Count).Any())
                    throw new ArgumentException($"seed {seed.Seed}: {judges[m]}'s judge scores do not match the held-out sets", nameof(seeds));
                for (int i = 0; i < oracleScores.Count; i++)
                    for (int a = 0; a < oracleScores[i].Count; a++)
                        for (int b = 0; b < oracleScores[i].Count; b++)
                        {
                            if (oracleScores[i][a] <= oracleScores[i][b] || scores[i][a] is not double better || scores[i][b] is not double worse) continue;
                            var key = (oracleScores[i][a], oracleScores[i][b]);
                            if (!counts.TryGetValue(key, out var kind)) counts[key] = kind = (new int[judges.Count], new int[judges.Count]);
                            kind.Pairs[m]++;
                            if (better > worse) kind.Correct[m]++;
                        }
            }
        return counts.OrderBy(c => c.Key.Worse).ThenByDescending(c => c.Key.Better)
            .Select(c => new JudgePairKind(c.Key.Better, c.Key.Worse, judges, c.Value.Pairs, c.Value.Correct)).ToList();
    }

    private static double JudgeAccuracy(IReadOnlyList<SeedRun> seeds, int model, IReadOnlyList<IReadOnlyList<int>> ranks, out Interval interval, out IReadOnlyList<double> perSeed)
    {
        // Per ranked set, correct pairs and pairs summed over seeds (a set with all its seeds is one resampling unit).
        var sets = new (double Correct, double Pairs)[ranks.Count];
        var seedAccuracy = new List<double>();
        foreach (var seed in seeds)
        {
            var scores = seed.Evaluations[model].JudgeScores;
            int correct = 0, pairs = 0;
            for (int i = 0; i < ranks.Count; i++)
            {
                var one = RewardModelMetrics.Compute([new RankedScores(ranks[i], scores[i])]);
                sets[i].Correct += one.CorrectPairs;
                sets[i].Pairs += one.Pairs;
                correct += one.CorrectPairs;
                pairs += one.Pairs;
            }
            seedAccuracy.Add(pairs == 0 ? double.NaN : (double)correct / pairs);
        }
        perSeed = seedAccuracy;
        interval = Bootstrap.RatioInterval(sets);
        double total = sets.Sum(s => s.Pairs);
        return total == 0 ? double.NaN : sets.Sum(s => s.Correct) / total;
    }
}
