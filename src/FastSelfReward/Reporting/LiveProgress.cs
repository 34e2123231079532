using Spectre.Console;

namespace FastSelfReward.Reporting;

/// <summary>
/// A live progress bar on an interactive terminal (Spectre.Console), redrawn in place with the latest
/// metrics and the ETA. Spectre's display loop blocks its caller, so it runs on a thread of its own
/// between <see cref="Start"/> and <see cref="Finish"/>.
/// </summary>
public sealed class LiveProgress : IProgressSink
{
    private readonly IAnsiConsole _console;
    private readonly TimeProvider _time = TimeProvider.System;
    private Thread? _display;
    private ProgressTask? _task;
    private ManualResetEventSlim? _ready, _done;
    private long _total;
    private string _label = "";
    private long _started;

    /// <param name="console">The terminal to draw on; it should be interactive with ANSI support.</param>
    public LiveProgress(IAnsiConsole console) => _console = console;

    public void Start(long total, string label)
    {
        Finish();
        _total = total;
        _label = label;
        _started = _time.GetTimestamp();
        _ready = new ManualResetEventSlim();
        _done = new ManualResetEventSlim();
        var ready = _ready;
        var done = _done;
        _display = new Thread(() => _console.Progress()
            .AutoClear(false)
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context =>
            {
                _task = context.AddTask(Describe(new ProgressUpdate(0)), maxValue: Math.Max(1, total));
                ready.Set();
                done.Wait();
                context.Refresh();
            })) { IsBackground = true, Name = "progress" };
        _display.Start();
        ready.Wait();
    }

    public void Report(ProgressUpdate update)
    {
        if (_task is not { } task) return;
        task.Description = Describe(update);
        task.Value = update.Completed;
    }

    public void Finish()
    {
        if (_display is null) return;
        _done!.Set();
        _display.Join();
        _display = null;
        _task = null;
        _ready!.Dispose();
        _done.Dispose();
    }

    private string Describe(ProgressUpdate update) =>
        Markup.Escape($"{_label} {update.Completed}/{_total} | {ProgressText.Metrics(update, _total, _time.GetElapsedTime(_started))}");

    public void Dispose() => Finish();
}
