using CommandLine;
using CommandLine.Text;
using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Cli;

/// <summary>`fsr`: verbs over the FastSelfReward library. Exit codes: 0 ok, 1 failure, 2 usage.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Help and version go to stdout (CommandLineParser's default writer is stderr).
        using var parser = new Parser(settings => { settings.HelpWriter = null; settings.CaseInsensitiveEnumValues = true; });
        var result = parser.ParseArguments(args, typeof(InfoOptions));
        return result.MapResult(
            (InfoOptions options) => Run(() => Info(options)),
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
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException or DllNotFoundException or UnauthorizedAccessException
                                       or CudaException or NotSupportedException)
        {
            Console.Error.WriteLine($"fsr: {e.Message}");
            return 1;
        }
    }

    private static int Info(InfoOptions options)
    {
        using (var cpu = new CpuKernels())
            Console.WriteLine($"cpu: {cpu.Describe()}");
        IReadOnlyList<CudaDeviceInfo> gpus = RealCudaDevice.Enumerate(out string? whyNone);
        if (gpus.Count == 0) Console.WriteLine($"gpus: none ({whyNone})");
        else
        {
            Console.WriteLine("gpus:");
            foreach (CudaDeviceInfo gpu in gpus) Console.WriteLine($"  {gpu}");
        }
        using IKernels kernels = Backends.Create(options.Device, out string? note);
        Console.WriteLine(kernels is CpuKernels ? $"backend: {kernels.Name}" : $"backend: {kernels.Name} ({kernels.Describe()})");
        if (note is not null) Console.WriteLine($"  {note}");
        return 0;
    }
}

/// <summary>The --device option of every verb that computes.</summary>
public abstract class DeviceOptions
{
    [Option("device", Default = DeviceKind.Auto, HelpText = "Where kernels run: cpu, cuda (the first GPU) or auto (a GPU when present).")]
    public DeviceKind Device { get; set; }
}

[Verb("info", HelpText = "Print the CPU backend (threads, BLAS, CPU features), the GPUs, and the backend --device selects.")]
public sealed class InfoOptions : DeviceOptions
{
}
