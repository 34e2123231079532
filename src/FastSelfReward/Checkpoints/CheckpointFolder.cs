using System.Text.Json;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: one <c>model.safetensors</c>, or shards listed
/// by <c>model.safetensors.index.json</c>. Exposes the union of their tensors by name. Every shard is
/// opened and validated up front, so a broken folder fails before any weight is read.
/// </summary>
public sealed class CheckpointFolder : IDisposable
{
    /// <summary>The single-file weights name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>The output projection; its absence means it shares the embedding matrix.</summary>
    public const string LmHeadName = "lm_head.weight";

    private readonly SafetensorsFile[] _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _tensors;

    private CheckpointFolder(string directory, SafetensorsFile[] files, Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)> tensors)
    {
        Directory = directory;
        _files = files;
        _tensors = tensors;
        Tensors = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Item2, StringComparer.Ordinal);
    }

    /// <summary>The folder, as given to <see cref="Open"/>.</summary>
    public string Directory { get; }

    /// <summary>Every tensor by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }

    /// <summary>True when <c>lm_head.weight</c> is absent: the output layer reuses the embeddings.</summary>
    public bool HasTiedEmbeddings => !_tensors.ContainsKey(LmHeadName);

    /// <summary>Opens the weights of a checkpoint folder, preferring the shard index when both exist.</summary>
    /// <exception cref="InvalidDataException">A file is malformed, a shard is missing, or a tensor is in two shards or in none that the index names.</exception>
    public static CheckpointFolder Open(string directory)
    {
        string index = Path.Combine(directory, IndexFileName);
        string single = Path.Combine(directory, SingleFileName);
        if (File.Exists(index)) return OpenSharded(directory, index);
        if (File.Exists(single)) return FromFiles(directory, [single], null);
        throw new FileNotFoundException($"{directory}: no {SingleFileName} or {IndexFileName} in the checkpoint folder");
    }

    private static CheckpointFolder OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> weightMap = ReadWeightMap(indexPath);
        var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var paths = new List<string>();
        foreach (string shard in shards)
        {
            // A shard name is a file beside the index, never a path that leaves the folder.
            if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                throw new InvalidDataException($"{indexPath}: shard name '{shard}' must be a plain file name in the same folder");
            string path = Path.Combine(directory, shard);
            if (!File.Exists(path))
                throw new InvalidDataException($"{indexPath}: shard '{shard}' is listed in weight_map but missing from {directory}");
            paths.Add(path);
        }
        return FromFiles(directory, paths, (indexPath, weightMap));
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: expected an object with a 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{indexPath}: weight_map entry '{p.Name}' must be a file name string");
                if (!result.TryAdd(p.Name, p.Value.GetString()!))
                    throw new InvalidDataException($"{indexPath}: weight_map lists tensor '{p.Name}' more than once");
            }
            if (result.Count == 0)
                throw new InvalidDataException($"{indexPath}: weight_map is empty");
            return result;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{indexPath}: not valid JSON: {e.Message}");
        }
    }

    private static CheckpointFolder FromFiles(string directory, IReadOnlyList<string> paths, (string Path, Dictionary<string, string> Map)? index)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            var tensors = new Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)>(StringComparer.Ordinal);
            foreach (string path in paths)
            {
                SafetensorsFile file = SafetensorsFile.Open(path);
                files.Add(file);
                foreach (SafetensorsTensorInfo t in file.Tensors)
                {
                    if (tensors.TryGetValue(t.Name, out var other))
                        throw new InvalidDataException($"{directory}: tensor '{t.Name}' is in both {other.Item1.Path} and {path}");
                    if (index is { } ix && (!ix.Map.TryGetValue(t.Name, out string? shard) || shard != Path.GetFileName(path)))
                        throw new InvalidDataException(
                            $"{ix.Path}: tensor '{t.Name}' is in {Path.GetFileName(path)} but weight_map says {(shard is null ? "nothing about it" : shard)}");
                    tensors.Add(t.Name, (file, t));
                }
            }
            if (index is { } idx)
                foreach (var (name, shard) in idx.Map)
                    if (!tensors.ContainsKey(name))
                        throw new InvalidDataException($"{idx.Path}: tensor '{name}' is mapped to {shard}, which does not contain it");
            return new CheckpointFolder(directory, files.ToArray(), tensors);
        }
        catch
        {
            foreach (SafetensorsFile f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, out SafetensorsTensorInfo info)
    {
        bool found = _tensors.TryGetValue(name, out var entry);
        info = entry.Info;
        return found;
    }

    /// <summary>Reads a whole tensor as float32 (from F32, F16 or BF16).</summary>
    public void ReadFloat32(string name, Span<float> destination) => Get(name).ReadFloat32(name, destination);

    /// <summary>Reads part of a tensor as float32, starting at element <paramref name="elementOffset"/>.</summary>
    public void ReadFloat32(string name, long elementOffset, Span<float> destination) =>
        Get(name).ReadFloat32(name, elementOffset, destination);

    /// <summary>
    /// Checks that the checkpoint holds exactly the expected tensors with the expected shapes.
    /// Rotary-embedding buffers that older exporters saved (<c>*.rotary_emb.inv_freq</c>) are
    /// recomputed from the config, so they are tolerated as extras.
    /// </summary>
    /// <param name="expected">The model's layout: Hugging Face name and shape of every parameter.</param>
    /// <exception cref="InvalidDataException">A tensor is missing, unexpected, has another shape, or cannot be read as float32; the message names it.</exception>
    public void Verify(IEnumerable<(string Name, IReadOnlyList<long> Shape)> expected)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            if (!wanted.Add(name))
                throw new ArgumentException($"expected layout lists tensor '{name}' twice", nameof(expected));
            if (!_tensors.TryGetValue(name, out var entry))
                throw new InvalidDataException(name == LmHeadName
                    ? $"{Directory}: missing tensor '{name}' {SafetensorsTensorInfo.FormatShape(shape)} (the config says embeddings are not tied)"
                    : $"{Directory}: missing tensor '{name}' {SafetensorsTensorInfo.FormatShape(shape)}");
            SafetensorsTensorInfo info = entry.Info;
            if (!info.Shape.SequenceEqual(shape))
                throw new InvalidDataException(
                    $"{entry.File.Path}: tensor '{name}' has shape {info.ShapeText}, expected {SafetensorsTensorInfo.FormatShape(shape)}");
            if (!info.Dtype.IsReadableAsFloat32())
                throw new InvalidDataException($"{entry.File.Path}: tensor '{name}' is {info.Dtype}; expected F32, F16 or BF16");
        }
        foreach (var (name, entry) in _tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (!wanted.Contains(name) && !name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal))
                throw new InvalidDataException($"{entry.File.Path}: unexpected tensor '{name}' {entry.Info.ShapeText} (not part of the model)");
    }

    private SafetensorsFile Get(string name) =>
        _tensors.TryGetValue(name, out var entry)
            ? entry.File
            : throw new KeyNotFoundException($"{Directory}: no tensor named '{name}' in the checkpoint");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (SafetensorsFile f in _files) f.Dispose();
    }
}
