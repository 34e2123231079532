using CommandLine;
using CommandLine.Text;
using FastSelfReward.Compute;

namespace FastSelfReward.Cli;

/// <summary>`fsr`: verbs over the FastSelfReward library. Exit codes: 0 ok, 1 failure, 2 usage.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Help and version go to stdout (CommandLineParser's default writer is stderr).
        using var parser = new Parser(settings => { settings.HelpWriter = null; settings.CaseInsensitiveEnumValues = true; });
        var result = parser.ParseArguments(args, typeof(InfoOptions), typeof(BenchOptions));
        return result.MapResult(
            (InfoOptions options) => Run(() => Info(options)),
            (BenchOptions options) => Run(options.Run),
            errors => Usage(result, errors));
    }

    private static int Usage<T>(ParserResult<T> result, IEnumerable<Error> errors)
    {
        var list = errors.ToList();
        bool asked = list.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
        var help = HelpText.AutoBuild(result, h => { h.AdditionalNewLineAfterOption = false; return h; }, e => e, verbsIndex: true);
        if (asked)
        {
            Console.Out.WriteLine(help);
            return 0;
        }
        Console.Error.WriteLine(help);
        return 2;
    }

    private static int Run(Func<int> verb)
    {
        try
        {
            return verb();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException or DllNotFoundException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"fsr: {e.Message}");
            return 1;
        }
    }

    private static int Info(InfoOptions options)
    {
        using var kernels = new CpuKernels();
        Console.WriteLine($"backend: {kernels.Name}");
        Console.WriteLine(kernels.Describe());
        return 0;
    }
}

[Verb("info", HelpText = "Print the compute backend, its threads, BLAS and CPU features.")]
public sealed class InfoOptions
{
}
