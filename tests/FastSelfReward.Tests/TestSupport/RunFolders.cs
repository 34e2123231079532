using FastSelfReward.Data;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>What tests do to run folders: copy one, and put an iteration's pairs in place without its generation stages.</summary>
internal static class RunFolders
{
    /// <summary>Copies every file under <paramref name="source"/> to the same place under <paramref name="target"/>; returns <paramref name="target"/>.</summary>
    public static string Copy(string source, string target)
    {
        foreach (string file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            string destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }

    /// <summary>
    /// Writes iteration 1's pairs (the first 40 IFT answers each preferred to the next prompt's
    /// answer) and marks iteration 1's generation stages and pairs done in <paramref name="manifest"/>
    /// (the folder's own when null): they stand in for the generation stages, whose tiny models'
    /// judgments rarely make pairs.
    /// </summary>
    public static void WithHandMadePairs(string folder, string ift, RunManifest? manifest = null)
    {
        var records = Jsonl.ReadAll<IftRecord>(ift).Records;
        Jsonl.WriteAll(Path.Combine(folder, "iter1", "pairs.jsonl"),
            records.Take(40).Select((r, i) => new PairRecord(r.Prompt, r.Response, records[(i + 1) % 40].Response, 5, 1)));
        manifest ??= RunManifest.Open(folder);
        foreach (string stage in new[] { "iter1/prompts", "iter1/candidates", "iter1/judgments" }) manifest.MarkDone(stage, folder, []);
        manifest.MarkDone("iter1/pairs", folder, ["iter1/pairs.jsonl"]);
    }
}
