using System.Globalization;
using System.Text;
using System.Text.Json;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;

namespace FastSelfReward.Demo;

/// <summary>One model's row of the report: the oracle's measures of its answers and of its judging.</summary>
/// <param name="Model">sft, m1, m2, ...</param>
/// <param name="MeanScore">Mean oracle score (0–5) of its greedy answers.</param>
/// <param name="SampledScore">Mean oracle score of its answers sampled as the loop samples candidates.</param>
/// <param name="ExactCorrect">Share of greedy answers exactly right.</param>
/// <param name="VsSft">Win/tie/loss against the SFT baseline by oracle score per prompt (greedy answers), with the margin's 95% interval.</param>
/// <param name="VsSftSampled">The same for the sampled answers.</param>
/// <param name="MeanLength">Mean greedy answer length in characters.</param>
/// <param name="Truncated">Share of greedy answers cut off by the token budget.</param>
/// <param name="Judge">The model as a judge of the held-out ranked sets, against the oracle's ranks.</param>
public sealed record ModelRow(string Model, double MeanScore, double SampledScore, double ExactCorrect, HeadToHeadMargin VsSft, HeadToHeadMargin VsSftSampled, double MeanLength,
    double Truncated, RewardModelReport Judge);

/// <summary>
/// The demo's results: for each seed of the loop, a table like the paper's (head to head against the
/// SFT baseline and the reward-modelling measures, per model) and every iteration measured link by
/// link; the same pooled over the seeds with intervals; and, from the pooled numbers, whether each bar
/// of a working self-rewarding loop was met. Written as report.md and report.json.
/// </summary>
public sealed record DemoReport(string Preset, int EvalPrompts, int EvalSets, IReadOnlyList<SeedSummary> Seeds, IReadOnlyList<PooledModel> Pooled,
    IReadOnlyList<PooledIteration> PooledIterations, IReadOnlyList<JudgePairKind> JudgePairKinds)
{
    /// <summary>The first seed's models, the ones the detailed tables and plots show.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<ModelRow> Models => Seeds[0].Models;

    /// <summary>The first seed's iterations.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<IterationMeasures> Iterations => Seeds[0].Iterations;

    /// <summary>Share of an iteration's new prompts that must be tasks of the world.</summary>
    public const double TaskShareTarget = 0.90;

    /// <summary>Among pairs the oracle scores differently, the share whose chosen answer must be the better.</summary>
    public const double ChosenBetterTarget = 0.70;

    /// <summary>The judge's pairwise accuracy the last model must exceed (the paper: 65.1% SFT, 78.7% M1, 81.7% M3).</summary>
    public const double JudgeAccuracyTarget = 0.60;

    /// <summary>Every iteration's prompts, over all seeds, are tasks of the world in at least <see cref="TaskShareTarget"/>.</summary>
    public bool PromptsAreTasks => PooledIterations.Count > 0 && PooledIterations.All(i => i.TaskShare >= TaskShareTarget);

    /// <summary>Every iteration's pairs, over all seeds, point the right way in at least <see cref="ChosenBetterTarget"/> of those the oracle can order.</summary>
    public bool PairsPointRight => PooledIterations.Count > 0 && PooledIterations.All(i => i.ChosenBetterShare >= ChosenBetterTarget);

    /// <summary>The last model's greedy answers beat the SFT baseline's over the seeds: the margin's interval lies above zero.</summary>
    public bool LastBeatsSft => Pooled[^1].VsSft.MarginInterval.AboveZero;

    /// <summary>The same for the answers sampled as the loop samples its candidates.</summary>
    public bool LastBeatsSftSampled => Pooled[^1].VsSftSampled.MarginInterval.AboveZero;

    /// <summary>The judge's pairwise accuracy over the seeds rises from M1 to the last model and ends above <see cref="JudgeAccuracyTarget"/>.</summary>
    public bool JudgeTargetMet =>
        Pooled.Count > 2 && Pooled[^1].JudgeAccuracy > Pooled[1].JudgeAccuracy && Pooled[^1].JudgeAccuracy > JudgeAccuracyTarget;

    /// <summary>
    /// Builds the report from each seed's evaluations (SFT first) and iteration artifacts;
    /// <paramref name="promptModel"/> is the runs' separate prompt writer, if they have one;
    /// <paramref name="oracleScores"/> are the oracle's scores of the held-out ranked sets' responses,
    /// which rank them (equal scores tie).
    /// </summary>
    public static DemoReport Build(string preset, IReadOnlyList<SeedRun> seeds, string? promptModel, IReadOnlyList<IReadOnlyList<int>> oracleScores)
    {
        if (seeds.Count == 0) throw new ArgumentException("a report needs at least one seed", nameof(seeds));
        // Rank 0 is the best: a response's rank is how many of its set score higher.
        IReadOnlyList<IReadOnlyList<int>> ranks = oracleScores.Select(set => (IReadOnlyList<int>)set.Select(s => set.Count(o => o > s)).ToList()).ToList();
        string Writer(int t) => promptModel is null ? $"m{t}" : Path.GetFileName(Path.TrimEndingDirectorySeparator(promptModel));
        var summaries = seeds.Select(seed =>
        {
            var evaluations = seed.Evaluations;
            var baseline = evaluations[0];
            var models = evaluations.Select(e => new ModelRow(e.Model, e.MeanScore, e.MeanSampledScore, e.ExactCorrect,
                SeedPooling.HeadToHead([(e, baseline)], sampled: false), SeedPooling.HeadToHead([(e, baseline)], sampled: true), e.MeanLength, e.Truncated, e.RewardModel(ranks))).ToList();
            var iterations = Enumerable.Range(1, evaluations.Count - 2).Select(t => IterationMeasures.Read(seed.RunFolder, t, Writer(t))).ToList();
            return new SeedSummary(seed.Seed, models, iterations);
        }).ToList();
        return new DemoReport(preset, seeds[0].Evaluations[0].Answers.Count, ranks.Count, summaries, SeedPooling.Models(seeds, ranks),
            SeedPooling.Iterations(summaries), SeedPooling.JudgeByPairKind(seeds, oracleScores));
    }

    /// <summary>Writes report.json and report.md into <paramref name="folder"/>.</summary>
    public void Write(string folder)
    {
        Directory.CreateDirectory(folder);
        WriteText(Path.Combine(folder, "report.json"), JsonSerializer.Serialize(this, DemoEvaluation.Json) + "\n");
        WriteText(Path.Combine(folder, "report.md"), ToMarkdown());
    }

    private static void WriteText(string path, string text) => Data.AtomicFile.WriteAllText(path, text);

    /// <summary>The report for a person: the paper's two tables in miniature, the pairs, and the target's verdict.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"# Self-rewarding demo ({Preset} preset)").AppendLine();
        md.AppendLine($"The loop ran {Seeds.Count} time(s) from the same data, M0 and prompt writer, with seeds {string.Join(", ", Seeds.Select(s => s.Seed))}. " +
                      $"The detailed tables are seed {Seeds[0].Seed}'s; \"Over the seeds\" pools every seed, and the verdicts at the end come from the pooled numbers.").AppendLine();
        md.AppendLine($"Measured by the world's oracle only, which the loop never sees. Answers: greedy and sampled, to {EvalPrompts} held-out prompts. " +
                      $"Judging: each model scores every response of {EvalSets} held-out ranked sets with the run's judge prompt and sampling, " +
                      "and the mean scores are compared with the oracle's ranks.").AppendLine();

        md.AppendLine("## Instruction following (head to head against the SFT baseline, by oracle score per prompt)").AppendLine();
        md.AppendLine("Greedy: one greedy answer per prompt. Sampled: one answer per prompt sampled as the loop samples its candidates. " +
                      "Margin: win % minus loss %, with its 95% paired-bootstrap interval over prompts; an interval that holds 0 is within noise.").AppendLine();
        md.AppendLine("| Model | Greedy win / tie / loss % | Greedy margin [95% CI] | Sampled win / tie / loss % | Sampled margin [95% CI] | " +
                      "Oracle score greedy (0–5) | Oracle score sampled | Exact-correct % | Mean length (chars) | Truncated % |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        static string Outcome(HeadToHeadMargin h) => $"{Pct(h.WinRate)} / {Pct(h.TieRate)} / {Pct(h.LossRate)}";
        foreach (var m in Models)
            md.AppendLine($"| {Name(m.Model)} | {Outcome(m.VsSft)} | {Margin(m.VsSft)} | {Outcome(m.VsSftSampled)} | {Margin(m.VsSftSampled)} | " +
                          $"{Num(m.MeanScore, 2)} | {Num(m.SampledScore, 2)} | {Pct(m.ExactCorrect)} | {Num(m.MeanLength, 0)} | {Pct(m.Truncated)} |");
        md.AppendLine();

        md.AppendLine("## Reward modelling (each model as a judge, against the oracle's ranking)").AppendLine();
        md.AppendLine("| Metric | " + string.Join(" | ", Models.Select(m => Name(m.Model))) + " |");
        md.AppendLine("|---|" + string.Concat(Models.Select(_ => "---|")));
        void Row(string label, Func<RewardModelReport, string> value) =>
            md.AppendLine($"| {label} | " + string.Join(" | ", Models.Select(m => value(m.Judge))) + " |");
        Row("Pairwise accuracy %", j => Pct(j.PairwiseAccuracy));
        Row("5-best %", j => Pct(j.FiveBest));
        Row("Exact match %", j => Pct(j.ExactMatch));
        Row("Spearman", j => Num(j.Spearman, 3));
        Row("Kendall τ", j => Num(j.KendallTau, 3));
        Row("Unscored responses", j => j.UnscoredResponses.ToString(CultureInfo.InvariantCulture));
        md.AppendLine();

        md.AppendLine("## Self-rewarding iterations").AppendLine();
        md.AppendLine("What each iteration trained on. Judge scores are the policy's own (mean of its parsed samples); oracle scores grade the same " +
                      "answers exactly, over the pairs whose prompt is a task of the world. Better / worse / equal: the oracle's verdict on chosen against rejected.").AppendLine();
        md.AppendLine("| Iteration | Prompts by | Prompts | Tasks % | Pairs | Judge: chosen | Judge: rejected | Oracle: chosen | Oracle: rejected | " +
                      "Better / worse / equal | Better among differing % | Length chosen | Length rejected |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var i in Iterations)
            md.AppendLine($"| {i.Iteration} | {Name(i.PromptWriter)} | {i.Prompts} | {Pct(i.TaskShare)} | {i.Pairs} | {Num(i.JudgeChosen, 2)} | {Num(i.JudgeRejected, 2)} | " +
                          $"{Num(i.OracleChosen, 2)} | {Num(i.OracleRejected, 2)} | {i.ChosenBetter} / {i.ChosenWorse} / {i.ChosenEqual} | {Pct(i.ChosenBetterShare)} | " +
                          $"{Num(i.LengthChosen, 0)} | {Num(i.LengthRejected, 0)} |");
        md.AppendLine();

        md.AppendLine("## The mechanism, link by link (by the oracle, over the iteration's task prompts)").AppendLine();
        md.AppendLine("Policy sampled: mean oracle score of its candidates. Spread: highest minus lowest oracle score of a prompt's candidates. " +
                      "Judge samples: each parsed sample against the oracle's score of its answer; sample spread: highest minus lowest sample of one answer. " +
                      "Orders pairs: candidate pairs of one prompt that the oracle scores differently, ordered the same way by the judge's means.").AppendLine();
        md.AppendLine("| Iteration | Policy sampled (0–5) | Candidate spread | Prompts with spread % | Judge parse % | Sample = oracle % | " +
                      "Sample error | Sample spread | Spread ≥ 3 % | Orders pairs % (of n) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var i in Iterations)
            md.AppendLine($"| {i.Iteration} | {Num(i.SampledScore, 2)} | {Num(i.CandidateSpread, 2)} | {Pct(i.SpreadPrompts)} | {Pct(i.ParseRate)} | " +
                          $"{Pct(i.SampleAgreement)} | {Num(i.SampleError, 2)} | {Num(i.SampleSpread, 2)} | {Pct(i.WideSpread)} | " +
                          $"{Pct(i.JudgeOrdersPairs)} ({i.CandidatePairs}) |");
        md.AppendLine();

        md.AppendLine("## The judge, criterion by criterion (its samples of the iteration's candidates, against the oracle's justification)").AppendLine();
        md.AppendLine("Each cell: the share of the judge's samples that agree with the oracle on the criterion, of the samples (n) where both state it. " +
                      "Right answer: the answer the judge works out against the task's exact answer.").AppendLine();
        md.AppendLine("| Iteration | About the task | Gives the form | Right answer | Response's answer right/wrong | Full sentence | Nothing extra |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        static string Cell(CriterionAgreement a) => $"{Pct(a.Rate)} ({a.Compared})";
        foreach (var i in Iterations)
        {
            var c = i.Criteria;
            md.AppendLine($"| {i.Iteration} | {Cell(c.AboutTask)} | {Cell(c.GivesForm)} | {Cell(c.RightAnswer)} | {Cell(c.Verdict)} | {Cell(c.FullSentence)} | {Cell(c.NothingExtra)} |");
        }
        md.AppendLine();

        md.AppendLine($"## Over the seeds ({Seeds.Count})").AppendLine();
        md.AppendLine("Margins against SFT: the mean over prompts of each prompt's outcome (+1 win, 0 tie, −1 loss) averaged over the seeds, with a 95% " +
                      "interval that resamples prompts; judge accuracy: correct pairs over pairs of every seed, with a 95% interval that resamples ranked sets. " +
                      "Per seed in brackets.").AppendLine();
        md.AppendLine("| Model | Greedy margin [95% CI] (per seed) | Sampled margin [95% CI] (per seed) | Judge pairwise accuracy % [95% CI] (per seed) |");
        md.AppendLine("|---|---|---|---|");
        string PerSeed(IEnumerable<double> values, Func<double, string> format) => "(" + string.Join(", ", values.Select(format)) + ")";
        foreach (var p in Pooled)
            md.AppendLine($"| {Name(p.Model)} | {Margin(p.VsSft)} {PerSeed(p.VsSft.MarginPerSeed, Signed)} | {Margin(p.VsSftSampled)} {PerSeed(p.VsSftSampled.MarginPerSeed, Signed)} | " +
                          $"{Pct(p.JudgeAccuracy)} [{Pct(p.JudgeAccuracyInterval.Low)}, {Pct(p.JudgeAccuracyInterval.High)}] {PerSeed(p.JudgeAccuracyPerSeed, Pct)} |");
        md.AppendLine();
        md.AppendLine("| Iteration | Tasks % | Better / worse / equal | Better among differing % (per seed) |");
        md.AppendLine("|---|---|---|---|");
        foreach (var i in PooledIterations)
            md.AppendLine($"| {i.Iteration} | {Pct(i.TaskShare)} | {i.ChosenBetter} / {i.ChosenWorse} / {i.ChosenEqual} | {Pct(i.ChosenBetterShare)} {PerSeed(i.ChosenBetterPerSeed, Pct)} |");
        md.AppendLine();

        md.AppendLine("## The judge by kind of pair (over the seeds)").AppendLine();
        if (JudgePairKinds.Count == 0) md.AppendLine("No judge scored both responses of any held-out pair.").AppendLine();
        else
        {
            var judges = JudgePairKinds[0].Models;
            md.AppendLine("Held-out pairs by the oracle's scores of the better and the worse response; the worse one fails the rubric's criterion named. " +
                          "Each cell: the share of those pairs the judge's mean scores order as the oracle does (a tie counts as wrong), of the pairs counted over every seed.").AppendLine();
            md.AppendLine("| Oracle scores | The worse response | Pairs | " + string.Join(" | ", judges.Select(j => Name(j) + " %")) + " |");
            md.AppendLine("|---|---|---|" + string.Concat(judges.Select(_ => "---|")));
            foreach (var k in JudgePairKinds)
                md.AppendLine($"| {k.Better} > {k.Worse} | {FailedCriterion(k.Worse)} | {k.Pairs.Max()} | " + string.Join(" | ", k.Accuracy.Select(Pct)) + " |");
            md.AppendLine();
        }

        var last = Pooled[^1];
        string Verdict(bool met) => met ? "**yes**" : "**no**";
        md.AppendLine("## Does self-rewarding work here?").AppendLine();
        md.AppendLine($"Over {Seeds.Count} seed(s):").AppendLine();
        md.AppendLine($"- The new prompts are tasks (at least {TaskShareTarget * 100:F0}% in every iteration): {Verdict(PromptsAreTasks)} " +
                      $"({string.Join(", ", PooledIterations.Select(i => Pct(i.TaskShare) + "%"))}).");
        md.AppendLine($"- The pairs point the right way (chosen better in at least {ChosenBetterTarget * 100:F0}% of the pairs the oracle scores differently): " +
                      $"{Verdict(PairsPointRight)} ({string.Join(", ", PooledIterations.Select(i => $"{Pct(i.ChosenBetterShare)}% of {i.ChosenBetter + i.ChosenWorse}"))}).");
        md.AppendLine($"- {Name(last.Model)} beats the SFT baseline head to head beyond noise (paper, M3: 62.5% wins, 9.8% losses): greedy answers " +
                      $"{Verdict(LastBeatsSft)} ({Pct(last.VsSft.WinRate)}% wins, {Pct(last.VsSft.LossRate)}% losses, margin {Margin(last.VsSft)}); " +
                      $"sampled answers {Verdict(LastBeatsSftSampled)} ({Pct(last.VsSftSampled.WinRate)}% wins, {Pct(last.VsSftSampled.LossRate)}% losses, " +
                      $"margin {Margin(last.VsSftSampled)}).");
        md.AppendLine($"- The judge's pairwise accuracy rises from M1 to {Name(last.Model)} and ends above {JudgeAccuracyTarget * 100:F0}% (paper: 78.7% → 81.7%): " +
                      $"{Verdict(JudgeTargetMet)} ({string.Join(" → ", Pooled.Skip(1).Select(m => Pct(m.JudgeAccuracy) + "%"))}).");
        md.AppendLine().AppendLine("Plots: plots/scores.png and plots/rates.png (per-model measures), plots/pretrain_loss.png and plots/training_losses.png (loss curves), plots/grad_norms.png (gradient norms of every stage, log scale).");
        return md.ToString();
    }

    // What a response the oracle scores `score` lacks: the first of the rubric's criteria that fails.
    private static string FailedCriterion(int score) => score switch
    {
        0 => "is not about the task",
        1 => "gives no answer of the task's form",
        2 => "gives a wrong answer",
        3 => "is not a full sentence",
        4 => "has extra text",
        _ => "–",
    };

    // sft and m1, m2, ... as the paper writes them; a prompt writer's folder name as it is.
    private static string Name(string model) =>
        model == "sft" ? "SFT" : model.Length > 1 && model[0] == 'm' && model[1..].All(char.IsAsciiDigit) ? model.ToUpperInvariant() : model;

    private static string Margin(HeadToHeadMargin h) =>
        $"{Signed(h.Margin)} [{Signed(h.MarginInterval.Low)}, {Signed(h.MarginInterval.High)}]";

    private static string Signed(double fraction) =>
        double.IsNaN(fraction) ? "–" : (fraction * 100).ToString("+0.0;−0.0;0.0", CultureInfo.InvariantCulture);

    private static string Pct(double fraction) => double.IsNaN(fraction) ? "–" : (fraction * 100).ToString("F1", CultureInfo.InvariantCulture);

    private static string Num(double value, int decimals) => double.IsNaN(value) ? "–" : value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
