using System.Diagnostics;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>Runs fsr as a process of its own (fsr.dll is copied next to the tests, with the native libraries).</summary>
internal static class FsrProcess
{
    public sealed record Result(int ExitCode, string Out, string Error);

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "fsr.dll");

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/> and the extra <paramref name="environment"/>, to its end.</summary>
    public static Result Run(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        foreach (string arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not end in time:\n{stderr.Result}{stdout.Result}");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>fsr under <c>mpirun -np <paramref name="ranks"/></c>, as CI runs it (root allowed, more ranks than cores allowed).</summary>
    public static Result UnderMpirun(int ranks, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        Run("mpirun", MpirunArguments(ranks, args, environment), environment);

    /// <summary>One job of one rank per argument list (mpirun's MPMD form, <c>A : B</c>): rank r runs fsr with <paramref name="perRank"/>[r].</summary>
    public static Result UnderMpirunEach(params string[][] perRank)
    {
        var arguments = new List<string> { "--allow-run-as-root", "--oversubscribe" };
        for (int r = 0; r < perRank.Length; r++)
        {
            if (r > 0) arguments.Add(":");
            arguments.AddRange(["-np", "1", Dotnet, Dll, .. perRank[r]]);
        }
        return Run("mpirun", arguments);
    }

    /// <summary>The command line of fsr with <paramref name="args"/>: alone (<paramref name="ranks"/> 1) or under mpirun.</summary>
    public static (string Program, List<string> Arguments) Command(int ranks, IEnumerable<string> args) =>
        ranks == 1 ? (Dotnet, [Dll, .. args]) : ("mpirun", MpirunArguments(ranks, args, null));

    private static List<string> MpirunArguments(int ranks, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var launch = new List<string> { "--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var name in (environment ?? new Dictionary<string, string>()).Keys) launch.AddRange(["-x", name]);
        return [.. launch, Dotnet, Dll, .. args];
    }

    /// <summary>Starts fsr (alone or under mpirun) and kills it, whole process tree, as soon as <paramref name="condition"/> holds.</summary>
    /// <exception cref="Xunit.Sdk.XunitException">It ended before the condition held.</exception>
    public static void KillWhen(int ranks, IEnumerable<string> args, Func<bool> condition)
    {
        var (program, arguments) = Command(ranks, args);
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in arguments) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (process.HasExited) Assert.Fail($"{program} exited ({process.ExitCode}) before the kill: {stderr.Result}{stdout.Result}");
            if (clock.Elapsed > TimeSpan.FromMinutes(3))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the kill condition never held");
            }
            Thread.Sleep(1);
        }
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }
}
