using System.Reflection;
using CommandLine;

namespace FastSelfReward.Cli;

/// <summary>
/// A verb whose work comes in modes, each with options of its own (<c>fsr data oasst</c>,
/// <c>fsr eval head-to-head</c>). Each mode is an options type registered as the hidden verb
/// <c>verb:mode</c>; <see cref="Program"/> turns <c>verb mode ...</c> into it, so a mode parses,
/// validates and prints help (<c>fsr verb mode --help</c>) like any verb. The verb itself only lists
/// its modes: <c>fsr verb --help</c>, or a usage error when the mode is missing or unknown.
/// </summary>
public abstract class ModedVerb : CommonOptions
{
    [Value(0, MetaName = "mode", HelpText = "The mode; fsr <verb> --help lists them.")]
    public string? Mode { get; set; }

    /// <summary>The options type of each mode, in the order help lists them.</summary>
    public abstract Type[] Modes { get; }

    /// <summary>This verb's name.</summary>
    public string Name => GetType().GetCustomAttribute<VerbAttribute>()!.Name;

    /// <summary>
    /// Reached only when the word after the verb is not a mode: <see cref="Program"/> sends
    /// <c>verb mode ...</c> to the mode's own type, so a known mode here came after an option.
    /// </summary>
    public override int Run(VerbContext context)
    {
        string modes = string.Join(", ", Modes.Select(ModeName));
        if (Mode is null) throw new UsageException($"needs a mode (modes: {modes})");
        if (Modes.Any(m => ModeName(m) == Mode)) throw new UsageException($"the mode comes right after the verb: fsr {Name} {Mode} [options]");
        throw new UsageException($"unknown mode '{Mode}' (modes: {modes})");
    }

    /// <summary>The list of modes with what each does, and how to see a mode's options.</summary>
    public string ModeList()
    {
        var lines = new List<string> { $"fsr {Name} MODE [options]", "" };
        int width = Modes.Max(m => ModeName(m).Length) + 4;
        foreach (var mode in Modes)
            lines.Add("  " + ModeName(mode).PadRight(width) + mode.GetCustomAttribute<VerbAttribute>()!.HelpText);
        lines.Add("");
        lines.Add($"fsr {Name} MODE --help shows a mode's options.");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The mode's name: what follows the colon of its hidden verb's name.</summary>
    public static string ModeName(Type mode) => mode.GetCustomAttribute<VerbAttribute>()!.Name.Split(':', 2)[1];

    /// <summary>A verb's name as the user types it: "data:oasst" is "data oasst".</summary>
    public static string Spoken(string verb) => verb.Replace(':', ' ');
}
