using FastSelfReward.Reporting;

namespace FastSelfReward.Tests.Reporting;

public class PlainProgressTests
{
    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;
        public void Advance(TimeSpan by) => _ticks += by.Ticks;
        public override long GetTimestamp() => _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }

    [Fact]
    public void WritesOneLinePerReportWithMetricsAndEta()
    {
        var clock = new ManualClock();
        var writer = new StringWriter();
        var progress = new PlainProgress(writer, time: clock);
        progress.Start(100, "train");
        clock.Advance(TimeSpan.FromSeconds(2));
        progress.Report(new ProgressUpdate(4) { Loss = 3.25, LearningRate = 3e-4, GradNorm = 1.5, TokensPerSecond = 1234.4 });
        clock.Advance(TimeSpan.FromSeconds(6));
        progress.Report(new ProgressUpdate(10));
        progress.Finish();

        string[] lines = writer.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "train   4/100 | loss 3.250000 | lr 3.00e-04 | norm 1.5000 | 1234 tok/s | eta 48s",
            "train  10/100 | eta 1m12s",
        ], lines);
    }

    [Fact]
    public void PrintsEveryNthReportThenTheLastAndTheTimeTaken()
    {
        var clock = new ManualClock();
        var writer = new StringWriter();
        var progress = new PlainProgress(writer, every: 5, time: clock);
        progress.Start(12, "gen");
        for (int i = 1; i <= 12; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            progress.Report(new ProgressUpdate(i));
        }
        progress.Finish();

        string[] lines = writer.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["gen  1/12 | eta 1m50s", "gen  5/12 | eta 1m10s", "gen 10/12 | eta 20s", "gen 12/12 | took 2m00s"], lines);
    }

    [Fact]
    public void FinishPrintsAnUnprintedLastReport()
    {
        var writer = new StringWriter();
        var progress = new PlainProgress(writer, every: 10, time: new ManualClock());
        progress.Start(100, "x");
        progress.Report(new ProgressUpdate(1));
        progress.Report(new ProgressUpdate(7));
        progress.Finish();
        Assert.EndsWith("x   7/100 | eta 0s" + Environment.NewLine, writer.ToString());
    }
}
