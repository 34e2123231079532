using System.Reflection;
using System.Runtime.InteropServices;
using CommandLine;
using CommandLine.Text;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Data;
using FastSelfReward.Distributed;
using FastSelfReward.Training;

namespace FastSelfReward.Cli;

/// <summary>
/// `fsr`: verbs over the FastSelfReward library. Exit codes: 0 ok, 1 failure (bad data, I/O, a
/// failed run), 2 usage (unknown verb or option, missing or out-of-range argument). Help goes to
/// standard output with exit code 0; errors go to standard error as one line.
/// </summary>
public static class Program
{
    /// <summary>
    /// Every verb's options type. Each derives from <see cref="CommonOptions"/> and carries its own
    /// handler; adding a verb is one file under Verbs/ and one entry here. A <see cref="ModedVerb"/>
    /// brings its modes' types with it.
    /// </summary>
    private static readonly Type[] TopLevelVerbs =
    [
        typeof(InfoOptions), typeof(SelfTestOptions), typeof(TrainLmOptions), typeof(GenerateOptions), typeof(BenchOptions),
        typeof(DemoOptions),
        typeof(IterateOptions), typeof(SftStageOptions), typeof(EftStageOptions), typeof(PromptsStageOptions), typeof(SampleStageOptions),
        typeof(JudgeStageOptions), typeof(PairsStageOptions), typeof(DpoStageOptions), typeof(EvalVerb), typeof(DataVerb),
    ];

    /// <summary>The verbs that come in modes, by name.</summary>
    private static readonly Dictionary<string, ModedVerb> ModedVerbs = TopLevelVerbs.Where(t => t.IsSubclassOf(typeof(ModedVerb)))
        .Select(t => (ModedVerb)Activator.CreateInstance(t)!).ToDictionary(v => v.Name);

    /// <summary>What the parser knows: the top-level verbs and every mode's hidden verb.</summary>
    private static readonly Type[] Verbs = [.. TopLevelVerbs, .. ModedVerbs.Values.SelectMany(v => v.Modes)];

    public static int Main(string[] args)
    {
        // The first Ctrl-C or SIGTERM asks the verb to stop at a safe point (saving its state); a
        // second one ends the process at once, as the signal would.
        using var interrupt = new CancellationTokenSource();
        void Stop(PosixSignalContext signal)
        {
            if (interrupt.IsCancellationRequested) return;
            signal.Cancel = true;
            Console.Error.WriteLine("fsr: stopping at the next safe point (a second signal ends the process now)");
            interrupt.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        Communicator world;
        try
        {
            world = Communicator.FromEnvironment();
        }
        catch (Exception e) when (e is DllNotFoundException or CommunicationException)
        {
            Console.Error.WriteLine($"fsr: {e.Message}");
            return 1;
        }
        using (world) return Run(args, VerbContext.FromConsole(interrupt.Token, world));
    }

    /// <summary>Parses <paramref name="args"/> and runs the verb with <paramref name="context"/>'s streams; returns the exit code.</summary>
    public static int Run(string[] args, VerbContext context)
    {
        // "verb mode ..." is the mode's own hidden verb "verb:mode"; "verb --help" lists the modes.
        if (args is ["help", var asked] && ModedVerbs.ContainsKey(asked)) args = [asked, "--help"];
        if (args.Length >= 2 && ModedVerbs.TryGetValue(args[0], out var moded))
        {
            if (moded.Modes.Any(m => ModedVerb.ModeName(m) == args[1])) args = [$"{args[0]}:{args[1]}", .. args[2..]];
            else if (args[1] is "--help" or "-h" or "help")
            {
                context.Out.WriteLine($"fsr {Version}");
                context.Out.WriteLine(moded.ModeList());
                return 0;
            }
        }
        // Help and version go to stdout (CommandLineParser's default writer is stderr).
        using var parser = new Parser(settings => { settings.HelpWriter = null; settings.CaseInsensitiveEnumValues = true; });
        var result = parser.ParseArguments(args, Verbs);
        return result.MapResult(
            (CommonOptions options) => Execute(options, context),
            errors => Usage(result, errors, context));
    }

    private static int Usage<T>(ParserResult<T> result, IEnumerable<Error> errors, VerbContext context)
    {
        var list = errors.ToList();
        if (list.Any(e => e.Tag is ErrorType.VersionRequestedError))
        {
            context.Out.WriteLine($"fsr {Version}");
            return 0;
        }
        bool asked = list.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError);
        var help = HelpText.AutoBuild(result, h =>
        {
            // Named after this assembly rather than the entry assembly, which is a test host when run in-process.
            h.Heading = $"fsr {Version}";
            h.Copyright = "";
            h.AdditionalNewLineAfterOption = false;
            // A verb index would print option names without their dashes; users type them with.
            h.AddDashesToOption = true;
            if (result.TypeInfo.Current.GetCustomAttribute<VerbAttribute>() is { Name: var name, HelpText: var text } && name.Contains(':'))
                h.AddPreOptionsLine($"fsr {ModedVerb.Spoken(name)} [options]: {text}");
            return h;
        }, e => e, verbsIndex: true);
        if (asked)
        {
            context.Out.WriteLine(help);
            return 0;
        }
        // What was wrong first, one line each; then where the whole usage is.
        string verb = result.TypeInfo.Current.GetCustomAttribute<VerbAttribute>() is { Name: var name } ? ModedVerb.Spoken(name) : "";
        string prefix = verb.Length > 0 ? $"fsr {verb}" : "fsr";
        foreach (var error in list) context.Error.WriteLine($"{prefix}: {Describe(error)}");
        context.Error.WriteLine($"(see {prefix} --help)");
        return 2;
    }

    /// <summary>A parse error in words, options with their dashes.</summary>
    private static string Describe(Error error) => error switch
    {
        UnknownOptionError e => $"unknown option '{(e.Token.Length == 1 ? "-" : "--")}{e.Token}'",
        MissingRequiredOptionError e => $"missing {Option(e.NameInfo)}",
        MissingValueOptionError e => $"{Option(e.NameInfo)} needs a value",
        BadFormatConversionError e => $"{Option(e.NameInfo)}: the value is not of the expected kind",
        RepeatedOptionError e => $"{Option(e.NameInfo)} is given more than once",
        SetValueExceptionError e => $"{Option(e.NameInfo)}: {e.Exception.Message}",
        MutuallyExclusiveSetError e => $"{Option(e.NameInfo)} cannot be combined with the options given",
        BadVerbSelectedError e => $"unknown verb '{e.Token}' (fsr --help lists them)",
        NoVerbSelectedError => "no verb given (fsr --help lists them)",
        _ => error.Tag.ToString(),
    };

    private static string Option(NameInfo name) => name.LongName.Length > 0 ? $"--{name.LongName}" : $"-{name.ShortName}";

    private static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "";

    private static int Execute(CommonOptions options, VerbContext context)
    {
        var world = context.World;
        string verb = ModedVerb.Spoken(options.GetType().GetCustomAttribute<VerbAttribute>()!.Name);
        if (world.Size > 1 && !options.RunsOnRanks)
        {
            if (world.IsRoot)
                context.Error.WriteLine($"fsr {verb}: runs in one process, and mpirun started {world.Size}; " +
                                        "run it without mpirun (fsr selftest --collectives checks the MPI job itself)");
            return 1;
        }
        options.LocalRank = world.LocalRank;
        int code = ExecuteOnThisRank(options, context, world.Size > 1 ? $"fsr {verb} (rank {world.Rank} of {world.Size})" : $"fsr {verb}", verb);
        // A rank that failed or stopped alone would leave the others waiting in their next collective
        // (rank 0 is stopped inside a generation stage while the others wait for it): it ends the job.
        // Training stops are agreed at a step boundary with the state saved first, so aborting loses nothing.
        if (code != 0 && world.Size > 1) world.Abort(code);
        return code;
    }

    private static int ExecuteOnThisRank(CommonOptions options, VerbContext context, string prefix, string verb)
    {
        try
        {
            return options.Run(context);
        }
        catch (UsageException e)
        {
            context.Error.WriteLine($"{prefix}: {e.Message} (see fsr {verb} --help)");
            return 2;
        }
        catch (OperationCanceledException e) when (context.Interrupt.IsCancellationRequested)
        {
            string where = e is TrainingInterruptedException stopped ? $" at step {stopped.Step}" : "";
            context.Error.WriteLine($"{prefix}: interrupted{where}; rerun the same command to resume");
            return 130;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException
                                      or JsonlFormatException or KeyNotFoundException or DllNotFoundException or UnauthorizedAccessException
                                      or CudaException or NotSupportedException)
        {
            context.Error.WriteLine($"{prefix}: {e.Message}");
            return 1;
        }
    }
}
