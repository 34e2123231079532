
namespace FastSelfReward.Reporting;

/// <summary>
/// Progress as plain lines, for output that is not an interactive terminal (a log file, CI, a pipe),
/// where a redrawn bar would print nothing or garbage:
/// <c>train-lm step   20/100 | loss 3.141593 | lr 3.00e-04 | norm 1.2345 | 1234 tok/s | eta 1m05s</c>.
/// </summary>
public sealed class PlainProgress : IProgressSink
{
    private readonly TextWriter _writer;
    private readonly int _every;
    private readonly TimeProvider _time;
    private long _total;
    private string _label = "";
    private long _started;
    private ProgressUpdate? _lastPrinted, _last;

    /// <param name="writer">Where lines go; flushed after each.</param>
    /// <param name="every">Print every n-th report (by <see cref="ProgressUpdate.Completed"/>), plus the first and the last.</param>
    /// <param name="time">The clock for elapsed time and ETA; the system clock when null.</param>
    public PlainProgress(TextWriter writer, int every = 1, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        _writer = writer;
        _every = every;
        _time = time ?? TimeProvider.System;
    }

    public void Start(long total, string label)
    {
        _total = total;
        _label = label;
        _started = _time.GetTimestamp();
        _last = _lastPrinted = null;
    }

    public void Report(ProgressUpdate update)
    {
        _last = update;
        if (_lastPrinted is null || update.Completed % _every == 0 || update.Completed >= _total) Print(update);
    }

    public void Warn(string message)
    {
        _writer.WriteLine($"WARNING: {message}");
        _writer.Flush();
    }

    /// <summary>Prints the last report unless it was printed already.</summary>
    public void Finish()
    {
        if (_last is { } last && _lastPrinted != last) Print(last);
    }

    private void Print(ProgressUpdate update)
    {
        int width = _total.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        string counter = update.Completed.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width);
        _writer.WriteLine($"{_label} {counter}/{_total} | {ProgressText.Metrics(update, _total, _time.GetElapsedTime(_started))}");
        _writer.Flush();
        _lastPrinted = update;
    }

    public void Dispose() { }
}
