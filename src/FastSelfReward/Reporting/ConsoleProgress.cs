using Spectre.Console;

namespace FastSelfReward.Reporting;

/// <summary>Chooses the progress display for this process's standard error.</summary>
public static class ConsoleProgress
{
    /// <summary>
    /// A <see cref="LiveProgress"/> bar when standard error is an interactive terminal with ANSI
    /// support, otherwise <see cref="PlainProgress"/> lines (every <paramref name="plainEvery"/>-th
    /// report). Progress goes to standard error so that results on standard output stay clean.
    /// </summary>
    public static IProgressSink Create(int plainEvery = 1)
    {
        if (!Console.IsErrorRedirected)
        {
            IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            if (console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi) return new LiveProgress(console);
        }
        return new PlainProgress(Console.Error, plainEvery);
    }
}
