using System.Globalization;
using System.Text;
using System.Text.Json;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;

namespace FastSelfReward.Demo;

/// <summary>One model's row of the report: the oracle's measures of its answers and of its judging.</summary>
/// <param name="Model">sft, m1, m2, ...</param>
/// <param name="MeanScore">Mean oracle score (0–5) of its greedy answers.</param>
/// <param name="ExactCorrect">Share of answers exactly right.</param>
/// <param name="VsSft">Win/tie/loss against the SFT baseline by oracle score per prompt.</param>
/// <param name="MeanLength">Mean answer length in characters.</param>
/// <param name="Truncated">Share of answers cut off by the token budget.</param>
/// <param name="Judge">The model as a judge of the held-out ranked sets, against the oracle's ranks.</param>
public sealed record ModelRow(string Model, double MeanScore, double ExactCorrect, HeadToHeadResult VsSft, double MeanLength,
    double Truncated, RewardModelReport Judge);

/// <summary>What one iteration of the loop trained on, from its artifacts.</summary>
/// <param name="Iteration">t, 1-based.</param>
/// <param name="Writer">The model that wrote the prompts, answers and judgments.</param>
/// <param name="Prompts">Prompts it wrote that passed the filters.</param>
/// <param name="Pairs">Preference pairs of pairs.jsonl.</param>
/// <param name="ScoreChosen">Mean judge score of the chosen answers.</param>
/// <param name="ScoreRejected">Mean judge score of the rejected answers.</param>
/// <param name="LengthChosen">Mean chosen answer length in characters.</param>
/// <param name="LengthRejected">Mean rejected answer length in characters.</param>
public sealed record IterationRow(int Iteration, string Writer, int Prompts, int Pairs, double ScoreChosen, double ScoreRejected,
    double LengthChosen, double LengthRejected);

/// <summary>
/// The demo's results: a table like the paper's (head to head against the SFT baseline and the
/// reward-modelling measures, per model), the pairs each iteration trained on, and whether the
/// paper's research target was met. Written as report.md and report.json.
/// </summary>
public sealed record DemoReport(string Preset, int EvalPrompts, int EvalSets, IReadOnlyList<ModelRow> Models, IReadOnlyList<IterationRow> Iterations)
{
    /// <summary>The paper's bar for M1 as a judge: pairwise accuracy of at least 70% (it reports 78.7%).</summary>
    public const double JudgeAccuracyTarget = 0.70;

    /// <summary>The last model beats the SFT baseline head to head: more wins than losses.</summary>
    public bool LastBeatsSft => Models[^1].VsSft.Wins > Models[^1].VsSft.Losses;

    /// <summary>M1's pairwise accuracy reaches the target and never falls over the iterations.</summary>
    public bool JudgeTargetMet
    {
        get
        {
            var accuracy = Models.Skip(1).Select(m => m.Judge.PairwiseAccuracy).ToList();
            return accuracy.Count > 0 && accuracy[0] >= JudgeAccuracyTarget && accuracy.Zip(accuracy.Skip(1)).All(p => p.Second >= p.First);
        }
    }

    /// <summary>Builds the report from the models' evaluations (SFT first) and the run folder's pairs.</summary>
    public static DemoReport Build(string preset, string runFolder, IReadOnlyList<ModelEvaluation> evaluations, IReadOnlyList<IReadOnlyList<int>> ranks)
    {
        var baseline = evaluations[0];
        var models = evaluations.Select(e => new ModelRow(e.Model, e.MeanScore, e.ExactCorrect, e.Against(baseline), e.MeanLength, e.Truncated,
            e.RewardModel(ranks))).ToList();
        var iterations = new List<IterationRow>();
        for (int t = 1; t < evaluations.Count - 1; t++)
        {
            string folder = Path.Combine(runFolder, $"iter{t}");
            var pairs = Jsonl.ReadAll<PairRecord>(Path.Combine(folder, "pairs.jsonl")).Records;
            int prompts = Jsonl.ReadAll<PromptRecord>(Path.Combine(folder, "prompts.jsonl")).Records.Count;
            double Mean(Func<PairRecord, double> f) => pairs.Count == 0 ? double.NaN : pairs.Average(f);
            iterations.Add(new IterationRow(t, $"m{t}", prompts, pairs.Count, Mean(p => p.ScoreChosen), Mean(p => p.ScoreRejected),
                Mean(p => p.Chosen.Length), Mean(p => p.Rejected.Length)));
        }
        return new DemoReport(preset, baseline.Answers.Count, ranks.Count, models, iterations);
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
        md.AppendLine($"Measured by the world's oracle only, which the loop never sees. Answers: greedy, to {EvalPrompts} held-out prompts. " +
                      $"Judging: each model scores every response of {EvalSets} held-out ranked sets with the run's judge prompt and sampling, " +
                      "and the mean scores are compared with the oracle's ranks.").AppendLine();

        md.AppendLine("## Instruction following (head to head against the SFT baseline, by oracle score per prompt)").AppendLine();
        md.AppendLine("| Model | Win % | Tie % | Loss % | Oracle score (0–5) | Exact-correct % | Mean length (chars) | Truncated % |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var m in Models)
            md.AppendLine($"| {Name(m.Model)} | {Pct(m.VsSft.WinRate)} | {Pct(m.VsSft.TieRate)} | {Pct(m.VsSft.LossRate)} | {Num(m.MeanScore, 2)} | " +
                          $"{Pct(m.ExactCorrect)} | {Num(m.MeanLength, 0)} | {Pct(m.Truncated)} |");
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
        md.AppendLine("| Iteration | Writer | Prompts | Pairs | Score chosen | Score rejected | Length chosen | Length rejected |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var i in Iterations)
            md.AppendLine($"| {i.Iteration} | {Name(i.Writer)} | {i.Prompts} | {i.Pairs} | {Num(i.ScoreChosen, 2)} | {Num(i.ScoreRejected, 2)} | " +
                          $"{Num(i.LengthChosen, 0)} | {Num(i.LengthRejected, 0)} |");
        md.AppendLine();

        var last = Models[^1];
        md.AppendLine("## Research target").AppendLine();
        md.AppendLine($"- {Name(last.Model)} beats the SFT baseline head to head (paper, M3: 62.5% wins, 9.8% losses): " +
                      $"**{(LastBeatsSft ? "yes" : "no")}** ({Pct(last.VsSft.WinRate)}% wins, {Pct(last.VsSft.LossRate)}% losses).");
        md.AppendLine($"- M1's pairwise accuracy is at least {JudgeAccuracyTarget * 100:F0}% and rises over the iterations (paper: 78.7% → 81.7%): " +
                      $"**{(JudgeTargetMet ? "yes" : "no")}** ({string.Join(" → ", Models.Skip(1).Select(m => Pct(m.Judge.PairwiseAccuracy) + "%"))}).");
        md.AppendLine().AppendLine("Plots: plots/scores.png and plots/rates.png (per-model measures), plots/pretrain_loss.png and plots/training_losses.png (loss curves), plots/grad_norms.png (gradient norms of every stage, log scale).");
        return md.ToString();
    }

    private static string Name(string model) => model == "sft" ? "SFT" : model.ToUpperInvariant();

    private static string Pct(double fraction) => double.IsNaN(fraction) ? "–" : (fraction * 100).ToString("F1", CultureInfo.InvariantCulture);

    private static string Num(double value, int decimals) => double.IsNaN(value) ? "–" : value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
