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
/// artifact that changed on disk is an error rather than silently different input. Digests come
/// from <see cref="FileHashes"/>, so a model is read whole when it is written, not by every check.
/// </summary>
public sealed class RunManifest
{
    private readonly string _path;
    private readonly Dictionary<string, StageEntry> _stages;
    private readonly FileHashes _hashes;

    private RunManifest(string path, Dictionary<string, StageEntry> stages, FileHashes hashes)
    {
        _path = path;
        _stages = stages;
        _hashes = hashes;
    }

    /// <summary>Reads manifest.json of a run folder, or starts an empty one.</summary>
    /// <param name="runDirectory">The run folder.</param>
    /// <param name="hashes">The run's digests; null opens the folder's own.</param>
    public static RunManifest Open(string runDirectory, FileHashes? hashes = null)
    {
        string path = Path.Combine(runDirectory, "manifest.json");
        hashes ??= FileHashes.Open(runDirectory);
        if (!File.Exists(path)) return new RunManifest(path, new(StringComparer.Ordinal), hashes);
        try
        {
            var stages = JsonSerializer.Deserialize<Dictionary<string, StageEntry>>(File.ReadAllText(path), RunConfig.Json)
                ?? throw new InvalidDataException($"{path}: empty manifest");
            return new RunManifest(path, new(stages, StringComparer.Ordinal), hashes);
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
        var hashes = artifacts.ToDictionary(a => a, a => _hashes.Of(Path.Combine(runDirectory, a)), StringComparer.Ordinal);
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
            if (_hashes.Of(path) != hash) throw new InvalidDataException($"{path}: artifact of finished stage {stage} changed since it was written");
        }
    }

    /// <summary>Drops a stage's entry, so it counts as never started.</summary>
    public void Forget(string stage)
    {
        if (_stages.Remove(stage)) Save();
    }

    private void Save() => Data.AtomicFile.WriteAllText(_path, JsonSerializer.Serialize(_stages, RunConfig.Json));
}
