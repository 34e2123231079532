using Spectre.Console;
using Spectre.Console.Rendering;

namespace FastSelfReward.Reporting;

/// <summary>
/// A live progress bar on an interactive terminal (Spectre.Console), redrawn in place:
/// <c>train-lm step 20/100 ━━━━━━━━━━  20% loss 3.141593 | lr 3.00e-04 | ... | eta 1m05s</c>.
/// Spectre's display loop blocks its caller, so it runs on a thread of its own between
/// <see cref="Start"/> and <see cref="Finish"/>.
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
    private volatile string _metrics = "";

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
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new MetricsColumn(() => _metrics))
            .Start(context =>
            {
                _task = context.AddTask(Markup.Escape($"{label} 0/{total}"), maxValue: Math.Max(1, total));
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
        _metrics = ProgressText.Metrics(update, _total, _time.GetElapsedTime(_started));
        task.Description = Markup.Escape($"{_label} {update.Completed}/{_total}");
        task.Value = update.Completed;
    }

    /// <summary>Printed through the same console as the bar, which draws it above itself.</summary>
    public void Warn(string message) => _console.MarkupLine($"[bold red]WARNING:[/] {Markup.Escape(message)}");

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

    public void Dispose() => Finish();

    /// <summary>The latest metrics on one line, cut short rather than wrapped on a narrow terminal.</summary>
    private sealed class MetricsColumn(Func<string> text) : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Spectre.Console.Text(text()) { Overflow = Overflow.Ellipsis };
    }
}
