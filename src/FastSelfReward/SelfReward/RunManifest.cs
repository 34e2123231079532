using System.Security.Cryptography;
using System.Text.Json;

namespace FastSelfReward.SelfReward;

/// <summary>Where a stage stands.</summary>
public enum StageStatus
{
    /// <summary>Started; its artifacts may be partial and are resumed.</summary>
    Partial,
    /// <summary>Finished; its artifacts are final and hashed.</summary>
    Done,
}

/// <summary>One stage's entry: its status and the SHA-256 of each artifact it finished with.</summary>
public sealed record StageEntry(StageStatus Status, IReadOnlyDictionary<string, string> Artifacts);

/// <summary>
/// manifest.json: stage name → status and artifact hashes. A stage marked done is never rerun; its
/// artifacts are checked against their hashes before a later stage reads them, so a finished
/// artifact that changed on disk is an error rather than silently different input.
/// </summary>
public sealed class RunManifest
{
    private readonly string _path;
    private readonly Dictionary<string, StageEntry> _stages;

    private RunManifest(string path, Dictionary<string, StageEntry> stages)
    {
        _path = path;
        _stages = stages;
    }

    /// <summary>Reads manifest.json of a run folder, or starts an empty one.</summary>
    public static RunManifest Open(string runDirectory)
    {
        string path = Path.Combine(runDirectory, "manifest.json");
        if (!File.Exists(path)) return new RunManifest(path, new(StringComparer.Ordinal));
        try
        {
            var stages = JsonSerializer.Deserialize<Dictionary<string, StageEntry>>(File.ReadAllText(path), RunConfig.Json)
                ?? throw new InvalidDataException($"{path}: empty manifest");
            return new RunManifest(path, new(stages, StringComparer.Ordinal));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public IReadOnlyDictionary<string, StageEntry> Stages => _stages;

    public bool IsDone(string stage) => _stages.TryGetValue(stage, out var entry) && entry.Status == StageStatus.Done;

    /// <summary>Records that a stage has started (its artifacts may now be partial).</summary>
    public void MarkPartial(string stage)
    {
        if (IsDone(stage)) throw new InvalidOperationException($"stage {stage} is already done");
        _stages[stage] = new StageEntry(StageStatus.Partial, new Dictionary<string, string>());
        Save();
    }

    /// <summary>Records a finished stage with the hashes of its artifacts (paths relative to the run folder).</summary>
    public void MarkDone(string stage, string runDirectory, IEnumerable<string> artifacts)
    {
        var hashes = artifacts.ToDictionary(a => a, a => Hash(Path.Combine(runDirectory, a)), StringComparer.Ordinal);
        _stages[stage] = new StageEntry(StageStatus.Done, hashes);
        Save();
    }

    /// <summary>
    /// Throws naming the file when a finished stage's artifact is missing or differs from its
    /// recorded hash; <paramref name="which"/> picks the artifacts to check (all when null).
    /// </summary>
    public void Verify(string stage, string runDirectory, Func<string, bool>? which = null)
    {
        if (!_stages.TryGetValue(stage, out var entry) || entry.Status != StageStatus.Done)
            throw new InvalidOperationException($"stage {stage} has not finished");
        foreach (var (artifact, hash) in entry.Artifacts)
        {
            if (which is not null && !which(artifact)) continue;
            string path = Path.Combine(runDirectory, artifact);
            if (!File.Exists(path)) throw new InvalidDataException($"{path}: artifact of finished stage {stage} is missing");
            if (Hash(path) != hash) throw new InvalidDataException($"{path}: artifact of finished stage {stage} changed since it was written");
        }
    }

    /// <summary>Drops a stage's entry, so it counts as never started.</summary>
    public void Forget(string stage)
    {
        if (_stages.Remove(stage)) Save();
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private void Save()
    {
        string temporary = _path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(_stages, RunConfig.Json));
        File.Move(temporary, _path, overwrite: true);
    }
}
