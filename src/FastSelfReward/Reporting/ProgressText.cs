using System.Globalization;

namespace FastSelfReward.Reporting;

/// <summary>The text both displays share, in the manner of llm.c's step line.</summary>
internal static class ProgressText
{
    /// <summary>
    /// <c>loss 2.345678 | lr 3.00e-04 | norm 1.2345 | 1234 tok/s | eta 1m05s</c>, leaving out what is
    /// unknown; once everything is done the ETA gives way to the time taken (<c>took 2m10s</c>).
    /// </summary>
    public static string Metrics(ProgressUpdate update, long total, TimeSpan elapsed)
    {
        var parts = new List<string>(5);
        var c = CultureInfo.InvariantCulture;
        if (update.Loss is double loss) parts.Add(string.Format(c, "loss {0:F6}", loss));
        if (update.LearningRate is double lr) parts.Add(string.Format(c, "lr {0:0.00e+00}", lr));
        if (update.GradNorm is double norm) parts.Add(string.Format(c, "norm {0:F4}", norm));
        if (update.TokensPerSecond is double tps) parts.Add(string.Format(c, "{0:F0} tok/s", tps));
        parts.Add(update.Completed >= total ? "took " + Duration(elapsed) : "eta " + Eta(update.Completed, total, elapsed));
        return string.Join(" | ", parts);
    }

    /// <summary>Remaining time at the average rate so far; "?" before the first unit is done.</summary>
    public static string Eta(long completed, long total, TimeSpan elapsed)
    {
        if (completed <= 0) return "?";
        return Duration(TimeSpan.FromTicks((long)(elapsed.Ticks / (double)completed * (total - completed))));
    }

    /// <summary>A compact duration: <c>1h02m</c>, <c>3m05s</c>, <c>12s</c>.</summary>
    public static string Duration(TimeSpan t)
    {
        if (t.TotalHours >= 1) return $"{(long)t.TotalHours}h{t.Minutes:00}m";
        if (t.TotalMinutes >= 1) return $"{t.Minutes}m{t.Seconds:00}s";
        return $"{t.Seconds}s";
    }
}
