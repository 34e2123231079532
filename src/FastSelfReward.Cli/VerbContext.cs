using FastSelfReward.Distributed;
using FastSelfReward.Reporting;

namespace FastSelfReward.Cli;

/// <summary>
/// The streams a verb writes to: results on <see cref="Out"/>, messages and progress on
/// <see cref="Error"/>. Tests run verbs in-process with writers of their own.
/// </summary>
public sealed class VerbContext
{
    private readonly Func<int, IProgressSink> _progress;

    private VerbContext(TextWriter output, TextWriter error, Func<int, IProgressSink> progress, CancellationToken interrupt, Communicator world)
    {
        Out = output;
        Error = error;
        _progress = progress;
        Interrupt = interrupt;
        World = world;
    }

    public TextWriter Out { get; }
    public TextWriter Error { get; }

    /// <summary>
    /// Fires when the user asks the process to stop (Ctrl-C, SIGTERM): long work stops at its next
    /// safe point (a training step boundary, with its state saved; a generation batch) and the verb
    /// says how to resume.
    /// </summary>
    public CancellationToken Interrupt { get; }

    /// <summary>The ranks of the job this process belongs to: one, unless mpirun started it.</summary>
    public Communicator World { get; }

    /// <summary>The process's console: a live bar when standard error is a terminal, plain lines otherwise.</summary>
    public static VerbContext FromConsole(CancellationToken interrupt, Communicator world) =>
        new(Console.Out, Console.Error, every => ConsoleProgress.Create(every), interrupt, world);

    /// <summary>Given writers, with progress as plain lines on <paramref name="error"/>.</summary>
    public static VerbContext FromWriters(TextWriter output, TextWriter error, CancellationToken interrupt = default) =>
        new(output, error, every => new PlainProgress(error, every), interrupt, Communicator.Single);

    /// <summary>
    /// A progress display that warns when a training stage's gradient norms explode; as plain lines it
    /// prints every <paramref name="plainEvery"/>-th report.
    /// </summary>
    public IProgressSink CreateProgress(int plainEvery = 1) => new TrainingHealthProgress(_progress(plainEvery));
}
