using System.Security.Cryptography;
using System.Text.Json;

namespace FastSelfReward.SelfReward;

/// <summary>
/// SHA-256 digests of files, each file read whole once per run rather than once per stage that
/// checks it: a digest is kept in the run folder's <c>hashes.json</c> with the file's size and
/// modification time, and reused while both are unchanged (the quick check make and rsync rely
/// on). A multi-GB model is hashed when it is written; the stages that read it after that, in this
/// process or a later one, only look at its size and time.
/// </summary>
/// <remarks>
/// Several instances may share one folder's file: each writes what it knows, and an entry lost to
/// another's write only costs a re-read. An entry is never trusted for a file whose size or
/// modification time differs, so no interleaving makes a stale digest pass.
/// </remarks>
public sealed class FileHashes
{
    /// <summary>The cache file inside a run folder.</summary>
    public const string FileName = "hashes.json";

    private readonly string _path;
    private readonly Dictionary<string, Entry> _entries;
    private readonly List<string> _read = [];

    private sealed record Entry(long Size, long ModifiedTicks, string Sha256);

    private FileHashes(string path, Dictionary<string, Entry> entries) => (_path, _entries) = (path, entries);

    /// <summary>The digests recorded in <paramref name="runDirectory"/>; an unreadable cache file is ignored (it only costs re-reads).</summary>
    public static FileHashes Open(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        Dictionary<string, Entry>? entries = null;
        try
        {
            if (File.Exists(path)) entries = JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllText(path), RunConfig.Json);
        }
        catch (JsonException)
        {
        }
        return new FileHashes(path, new(entries ?? [], StringComparer.Ordinal));
    }

    /// <summary>The files this instance read whole to hash them, in order (absolute paths).</summary>
    public IReadOnlyList<string> FilesRead => _read;

    /// <summary>SHA-256 of a file's contents, lower-case hex.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public string Of(string path)
    {
        path = Path.GetFullPath(path);
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: no such file", path);
        long size = info.Length, ticks = info.LastWriteTimeUtc.Ticks;
        if (_entries.TryGetValue(path, out var known) && known.Size == size && known.ModifiedTicks == ticks) return known.Sha256;
        string digest;
        using (var stream = File.OpenRead(path)) digest = Convert.ToHexStringLower(SHA256.HashData(stream));
        _read.Add(path);
        // The time is read again after hashing: a file written meanwhile is not recorded under the old time.
        info.Refresh();
        if (info.Length == size && info.LastWriteTimeUtc.Ticks == ticks)
        {
            _entries[path] = new Entry(size, ticks, digest);
            Save();
        }
        return digest;
    }

    private void Save() => Data.AtomicFile.WriteAllText(_path, JsonSerializer.Serialize(_entries, RunConfig.Json));
}
