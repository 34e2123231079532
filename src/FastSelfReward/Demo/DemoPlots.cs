using System.Text.Json;
using ScottPlot;

namespace FastSelfReward.Demo;

/// <summary>
/// The report's pictures: the per-model measures (one point per model, SFT to the last iteration) and
/// the training loss curves read back from the metrics files.
/// </summary>
public static class DemoPlots
{
    private const int Width = 900, Height = 520;

    /// <summary>Writes scores.png, rates.png, pretrain_loss.png, training_losses.png and grad_norms.png into <paramref name="folder"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, DemoReport report, string pretrainMetrics, string runMetrics)
    {
        Directory.CreateDirectory(folder);
        var models = report.Models;
        double[] x = [.. Enumerable.Range(0, models.Count).Select(i => (double)i)];
        string[] labels = [.. models.Select(m => m.Model == "sft" ? "SFT" : m.Model.ToUpperInvariant())];

        var scores = PerModel("Oracle score of greedy answers (0–5)", x, labels);
        Line(scores, x, models.Select(m => m.MeanScore), "mean oracle score");
        scores.Axes.SetLimitsY(0, 5);

        var rates = PerModel("Per-model measures (%)", x, labels);
        Line(rates, x, models.Select(m => 100 * m.ExactCorrect), "exact-correct");
        Line(rates, x, models.Select(m => 100 * m.VsSft.WinRate), "win vs SFT");
        Line(rates, x, models.Select(m => 100 * m.VsSft.LossRate), "loss vs SFT");
        Line(rates, x, models.Select(m => 100 * m.Judge.PairwiseAccuracy), "judge pairwise accuracy");
        Line(rates, x, models.Select(m => 100 * m.Judge.ExactMatch), "judge exact match");
        rates.Axes.SetLimitsY(0, 100);

        // Each metrics file is read once; the plots take their series from it by field.
        var pretrainLog = ReadSeries(pretrainMetrics);
        var runLog = ReadSeries(runMetrics);
        var pretrain = Curves("M0 pretraining loss", PerStage(pretrainLog, "loss"));
        var training = Curves("Fine-tuning losses (SFT, M1) and DPO losses per iteration", PerStage(runLog, "loss"));
        var norms = PerStage(pretrainLog, "grad_norm");
        foreach (var (stage, points) in PerStage(runLog, "grad_norm")) norms[stage] = points;
        var gradients = LogCurves("Gradient norm before clipping, per stage (log scale)", "gradient norm", norms);

        var written = new List<string>();
        foreach (var (plot, name) in new[] { (scores, "scores.png"), (rates, "rates.png"), (pretrain, "pretrain_loss.png"), (training, "training_losses.png"),
                     (gradients, "grad_norms.png") })
        {
            string path = Path.Combine(folder, name);
            plot.SavePng(path, Width, Height);
            written.Add(path);
        }
        return written;
    }

    private static Plot PerModel(string title, double[] x, string[] labels)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(x, labels);
        plot.ShowLegend();
        return plot;
    }

    private static void Line(Plot plot, double[] x, IEnumerable<double> y, string label)
    {
        var scatter = plot.Add.Scatter(x, y.ToArray());
        scatter.LegendText = label;
        scatter.MarkerSize = 8;
    }

    private static Plot Curves(string title, IReadOnlyDictionary<string, (List<double> Steps, List<double> Values)> series)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss");
        foreach (var (name, (steps, values)) in series)
        {
            var line = plot.Add.ScatterLine(steps.ToArray(), values.ToArray());
            line.LegendText = name;
        }
        plot.ShowLegend();
        return plot;
    }

    /// <summary>
    /// Curves on a log₁₀ y axis (ScottPlot draws linear axes: the values go in as logarithms, the
    /// ticks come out as powers of ten), so a healthy norm near 1 and an exploding one at 10⁶ both show.
    /// </summary>
    private static Plot LogCurves(string title, string label, IReadOnlyDictionary<string, (List<double> Steps, List<double> Values)> series)
    {
        var positive = series.ToDictionary(s => s.Key, s =>
        {
            var kept = s.Value.Steps.Zip(s.Value.Values).Where(p => p.Second > 0 && double.IsFinite(p.Second)).ToList();
            return (kept.Select(p => p.First).ToList(), kept.Select(p => Math.Log10(p.Second)).ToList());
        });
        var plot = Curves(title, positive);
        plot.YLabel(label);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => y is >= -3 and <= 4
                ? Math.Pow(10, y).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)
                : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"1e{y:0}"),
        };
        return plot;
    }

    /// <summary>
    /// One metric per stage: the pretraining log's unprefixed <paramref name="field"/> as "M0", and each
    /// "stage/field" of the run's log as "stage" (evaluations, "stage/eval_field", end in another name).
    /// </summary>
    private static Dictionary<string, (List<double> Steps, List<double> Values)> PerStage(
        Dictionary<string, (List<double> Steps, List<double> Values)> log, string field) =>
        log.Where(s => s.Key == field || s.Key.EndsWith("/" + field, StringComparison.Ordinal))
            .ToDictionary(s => s.Key == field ? "M0" : s.Key[..^(field.Length + 1)], s => s.Value);

    /// <summary>
    /// Every numeric field of a metrics JSONL file as a series of points (step, value). The file may
    /// be open for appending, so it is read with sharing.
    /// </summary>
    private static Dictionary<string, (List<double> Steps, List<double> Values)> ReadSeries(string path)
    {
        var series = new Dictionary<string, (List<double> Steps, List<double> Values)>();
        if (!File.Exists(path)) return series;
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        while (reader.ReadLine() is string line)
        {
            if (line.Length == 0) continue;
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (!root.TryGetProperty("step", out var step)) continue;
            foreach (var field in root.EnumerateObject())
            {
                if (field.Value.ValueKind != JsonValueKind.Number || field.Name == "step") continue;
                if (!series.TryGetValue(field.Name, out var points)) series[field.Name] = points = ([], []);
                points.Steps.Add(step.GetDouble());
                points.Values.Add(field.Value.GetDouble());
            }
        }
        return series;
    }
}
