using FastSelfReward.Cli;

namespace FastSelfReward.Tests.Cli;

/// <summary>Runs `fsr` in-process with captured standard output and error.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Out, string Error);

    public static Result Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, VerbContext.FromWriters(output, error));
        return new Result(code, output.ToString(), error.ToString());
    }
}
