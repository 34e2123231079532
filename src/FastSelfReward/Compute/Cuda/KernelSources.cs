using System.Reflection;

namespace FastSelfReward.Compute.Cuda;

/// <summary>One kernels/*.cu file with every header it may include, by the names it includes them.</summary>
/// <param name="FileName">"rmsnorm.cu".</param>
/// <param name="Source">The file's text.</param>
/// <param name="Headers">Include name ("common/bf16.cuh") → text, ordered by name.</param>
public sealed record KernelSource(string FileName, string Source, IReadOnlyList<KeyValuePair<string, string>> Headers);

/// <summary>
/// The kernel sources, embedded in this assembly from kernels/ (so a published fsr carries them
/// and compiles them for whatever GPU it meets). Every .cu file gets every header of
/// kernels/common: NVRTC matches include names literally, and passing all of them keeps one rule
/// for every file; the cache key covers them all.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "kernels/";

    private static readonly Lazy<Dictionary<string, string>> Resources = new(ReadResources);

    /// <summary>The kernel files, "cast.cu", "embedding.cu", ..., in ordinal order.</summary>
    public static IReadOnlyList<string> Files =>
        Resources.Value.Keys.Where(k => k.EndsWith(".cu", StringComparison.Ordinal) && !k.Contains('/'))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>The file <paramref name="fileName"/> of kernels/ and the headers of kernels/common.</summary>
    public static KernelSource Load(string fileName)
    {
        if (!Resources.Value.TryGetValue(fileName, out string? source))
            throw new ArgumentException($"kernels/{fileName}: no such kernel file (have: {string.Join(", ", Files)})", nameof(fileName));
        var headers = Resources.Value.Where(kv => kv.Key.EndsWith(".cuh", StringComparison.Ordinal))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        return new KernelSource(fileName, source, headers);
    }

    private static Dictionary<string, string> ReadResources()
    {
        Assembly assembly = typeof(KernelSources).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            using Stream stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            result[name[Prefix.Length..]] = reader.ReadToEnd();
        }
        return result;
    }
}
