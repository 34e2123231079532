using System.Diagnostics;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>Runs fsr as a process of its own, alone or under mpirun (fsr.dll is copied next to the tests, with the native libraries).</summary>
internal static class FsrProcess
{
    public sealed record Result(int ExitCode, string Out, string Error);

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "fsr.dll");

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    /// <summary>Starts fsr alone with <paramref name="args"/>, its output redirected; the caller reads it and waits.</summary>
    public static Process Start(IEnumerable<string> args) => Start(Dotnet, [Dll, .. args], null);

    /// <summary>fsr alone with <paramref name="args"/>, to its end; <paramref name="dll"/> runs another copy of it.</summary>
    public static Result Alone(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, string? dll = null) =>
        Run(Dotnet, [dll ?? Dll, .. args], environment);

    /// <summary>fsr under <c>mpirun -np <paramref name="ranks"/></c>, as CI runs it (root allowed, more ranks than cores allowed).</summary>
    public static Result UnderMpirun(int ranks, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        Run("mpirun", MpirunArguments(ranks, args, environment), environment);

    /// <summary>fsr alone (<paramref name="ranks"/> 1) or under mpirun.</summary>
    public static Result Ranks(int ranks, IEnumerable<string> args) => ranks == 1 ? Alone(args) : UnderMpirun(ranks, args);

    /// <summary>One job of one rank per argument list (mpirun's MPMD form, <c>A : B</c>): rank r runs fsr with <paramref name="perRank"/>[r].</summary>
    public static Result UnderMpirunEach(params string[][] perRank)
    {
        var arguments = new List<string> { "--allow-run-as-root", "--oversubscribe" };
        for (int r = 0; r < perRank.Length; r++)
        {
            if (r > 0) arguments.Add(":");
            arguments.AddRange(["-np", "1", Dotnet, Dll, .. perRank[r]]);
        }
        return Run("mpirun", arguments, null);
    }

    /// <summary>
    /// Starts fsr (alone or under mpirun) and kills it, whole process tree, as soon as
    /// <paramref name="condition"/> holds; returns what it wrote. Generous: the machines are shared,
    /// the run, not the clock, decides when to kill.
    /// </summary>
    /// <exception cref="Xunit.Sdk.XunitException">It ended before the condition held, or the condition never held.</exception>
    public static Result KillWhen(int ranks, IEnumerable<string> args, Func<bool> condition)
    {
        using var process = ranks == 1 ? Start(args) : Start("mpirun", MpirunArguments(ranks, args, null), null);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (process.HasExited) Assert.Fail($"fsr exited ({process.ExitCode}) before the kill: {stderr.Result}{stdout.Result}");
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the kill condition never held");
            }
            Thread.Sleep(1);
        }
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static List<string> MpirunArguments(int ranks, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var launch = new List<string> { "--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var name in (environment ?? new Dictionary<string, string>()).Keys) launch.AddRange(["-x", name]);
        return [.. launch, Dotnet, Dll, .. args];
    }

    private static Process Start(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        foreach (string arg in args) info.ArgumentList.Add(arg);
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
    }

    private static Result Run(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        using var process = Start(program, args, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not end in time:\n{stderr.Result}{stdout.Result}");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
