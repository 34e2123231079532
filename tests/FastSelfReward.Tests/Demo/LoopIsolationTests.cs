using System.Text.RegularExpressions;

namespace FastSelfReward.Tests.Demo;

/// <summary>
/// The loop must work the same on real data, so no code outside World/ and Demo/ may know the
/// ground-truth world: not its namespace, not the demo's, and not one of their type names (which a
/// file could reach through a using alias or a fully qualified name). Comments and strings are
/// ignored, so prose about "the oracle" is fine.
/// </summary>
public sealed partial class LoopIsolationTests
{
    private static readonly string[] Forbidden = ["World", "Demo"];

    [Fact]
    public void No_library_code_outside_World_and_Demo_refers_to_them()
    {
        string library = Path.Combine(RepositoryRoot(), "src", "FastSelfReward");
        var names = Forbidden.SelectMany(folder => Directory.GetFiles(Path.Combine(library, folder), "*.cs", SearchOption.AllDirectories))
            .SelectMany(f => DeclaredTypes(File.ReadAllText(f))).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("Oracle", names);
        Assert.Contains("InstructionWorld", names);

        var loopFiles = Directory.GetFiles(library, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Forbidden.Any(folder => Path.GetRelativePath(library, f).StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(loopFiles, f => f.EndsWith("SelfRewardingRun.cs", StringComparison.Ordinal));
        var offences = loopFiles.SelectMany(f => References(File.ReadAllText(f), names).Select(r => $"{Path.GetRelativePath(library, f)}: {r}")).ToList();
        Assert.True(offences.Count == 0, "the loop's code refers to the world or the demo:\n" + string.Join("\n", offences));
    }

    /// <summary>
    /// The kernels sit at the bottom: Compute and Interop may use each other and nothing above them
    /// (model, training, generation, checkpoints, ...), so a backend can be read and tested alone.
    /// </summary>
    [Fact]
    public void Compute_and_Interop_refer_to_no_namespace_above_them()
    {
        string library = Path.Combine(RepositoryRoot(), "src", "FastSelfReward");
        string[] below = ["Compute", "Interop"];
        string[] above = [.. Directory.GetDirectories(library).Select(Path.GetFileName).OfType<string>()
            .Where(name => !below.Contains(name) && name is not ("bin" or "obj"))];
        Assert.Contains("Training", above);
        var offences = below.SelectMany(folder => Directory.GetFiles(Path.Combine(library, folder), "*.cs", SearchOption.AllDirectories))
            .SelectMany(f => above.Where(ns => Regex.IsMatch(CommentsAndStrings().Replace(File.ReadAllText(f), " "), $@"\bFastSelfReward\s*\.\s*{ns}\b"))
                .Select(ns => $"{Path.GetRelativePath(library, f)}: FastSelfReward.{ns}"))
            .ToList();
        Assert.True(offences.Count == 0, "the kernels' layer refers to a layer above it:\n" + string.Join("\n", offences));
    }

    [Fact]
    public void The_scan_finds_a_namespace_a_type_name_and_an_alias_but_not_prose()
    {
        string[] names = ["Oracle", "WorldTask"];
        Assert.NotEmpty(References("using FastSelfReward.World;\nclass A { }", names));
        Assert.NotEmpty(References("class A { int S(object t) => global::FastSelfReward.Demo.X.Y(t); }", names));
        Assert.NotEmpty(References("using O = Oracle;\nclass A { }", names));
        Assert.NotEmpty(References("class A { WorldTask? t; }", names));
        Assert.Empty(References("// the oracle grades; Oracle.Grade is never called here\nclass A { string s = \"Oracle\"; /* WorldTask */ }", names));
        Assert.Empty(References("class WorldTasks { int OracleScore; }", names));
        Assert.NotEmpty(References("class A { string s = $\"{Oracle.Grade(t, r)}\"; }", names));
    }

    /// <summary>Each namespace or type name of the world or the demo used in code (outside comments and strings).</summary>
    internal static IEnumerable<string> References(string source, IEnumerable<string> typeNames)
    {
        string code = CommentsAndStrings().Replace(source, " ");
        foreach (string ns in Forbidden)
            if (Regex.IsMatch(code, $@"\bFastSelfReward\s*\.\s*{ns}\b")) yield return $"namespace FastSelfReward.{ns}";
        foreach (string name in typeNames)
            if (Regex.IsMatch(code, $@"(?<![\w@]){Regex.Escape(name)}(?!\w)")) yield return $"type {name}";
    }

    private static IEnumerable<string> DeclaredTypes(string source) =>
        Regex.Matches(CommentsAndStrings().Replace(source, " "), @"\b(?:class|record|struct|enum|interface)\s+(?:struct\s+|class\s+)?([A-Z]\w*)")
            .Select(m => m.Groups[1].Value);

    // Line and block comments, and raw, verbatim, regular and character literals. Interpolated strings
    // stay in, since their holes are code: a type name in their text fails the scan, which errs safe.
    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|(?<![$@])""""""[\s\S]*?""""""|(?<!\$)@""(?:[^""]|"""")*""|(?<![$@])""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)'", RegexOptions.Singleline)]
    private static partial Regex CommentsAndStrings();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FastSelfReward.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no FastSelfReward.sln above {AppContext.BaseDirectory}");
    }
}
