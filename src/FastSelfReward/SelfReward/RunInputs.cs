using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Data;

namespace FastSelfReward.SelfReward;

/// <summary>What a run read from one input: its path, and the SHA-256 of its contents.</summary>
/// <param name="Path">The file or checkpoint folder run.json names.</param>
/// <param name="Sha256">The file's digest; for a folder, the digest of its files' names and digests.</param>
/// <param name="Files">For a checkpoint folder, each file the loaders read (config, weights, tokenizer) and its digest.</param>
public sealed record RecordedInput(string Path, string Sha256, IReadOnlyDictionary<string, string>? Files = null);

/// <summary>
/// <c>inputs.json</c>: the SHA-256 of every input run.json names (IFT, EFT, the base model, the
/// judge template, the exclusion list, the prompt model, the selection prompts and judge), recorded
/// when the run starts and checked whenever it is opened again. run.json fixes the paths; this fixes
/// what is behind them, so data edited or a checkpoint replaced between two invocations is an error
/// naming the input, never a run that silently mixes two versions. Digests go through
/// <see cref="FileHashes"/>: an unchanged multi-GB model costs a look at its size and time.
/// </summary>
public static class RunInputs
{
    /// <summary>The record inside a run folder.</summary>
    public const string FileName = "inputs.json";

    /// <summary>Every input <paramref name="config"/> names: its run.json field, path, and whether it is a checkpoint folder.</summary>
    public static IEnumerable<(string Field, string Path, bool Folder)> Named(RunConfig config)
    {
        yield return ("base_model", config.BaseModel, true);
        yield return ("ift", config.Ift, false);
        yield return ("eft", config.Eft, false);
        if (config.JudgeTemplate is { } judgeTemplate) yield return ("judge_template", judgeTemplate, false);
        if (config.ExcludePrompts is { } exclusions) yield return ("exclude_prompts", exclusions, false);
        if (config.Prompts.PromptModel is { } writer) yield return ("prompts.prompt_model", writer, true);
        if (config.CheckpointSelection.Prompts is { } prompts) yield return ("checkpoint_selection.prompts", prompts, false);
        if (config.CheckpointSelection.Judge is { } judge) yield return ("checkpoint_selection.judge", judge, true);
    }

    /// <summary>The contents of every input now.</summary>
    public static SortedDictionary<string, RecordedInput> Read(RunConfig config, FileHashes hashes)
    {
        var inputs = new SortedDictionary<string, RecordedInput>(StringComparer.Ordinal);
        foreach (var (field, path, folder) in Named(config))
            inputs[field] = folder ? Checkpoint(path, hashes) : new RecordedInput(path, hashes.Of(path));
        return inputs;
    }

    /// <summary>A checkpoint folder: every file a loader reads (config.json, weights, their index, tokenizer files).</summary>
    private static RecordedInput Checkpoint(string folder, FileHashes hashes)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(folder))
        {
            string name = System.IO.Path.GetFileName(file);
            bool read = name == LlamaConfigJson.FileName || name.EndsWith(".safetensors", StringComparison.Ordinal)
                        || name.EndsWith(".safetensors.index.json", StringComparison.Ordinal) || name.EndsWith(".tiktoken", StringComparison.Ordinal)
                        || CheckpointWriter.TokenizerFileNames.Contains(name);
            if (read) files[name] = hashes.Of(file);
        }
        var lines = new StringBuilder();
        foreach (var (name, digest) in files) lines.Append(name).Append('\0').Append(digest).Append('\n');
        return new RecordedInput(folder, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lines.ToString()))), files);
    }

    /// <summary>
    /// Records the inputs' contents in a run folder that has no record yet; otherwise compares them
    /// with the record and, when one differs, throws naming each, unless
    /// <paramref name="acceptChanges"/>, which records the new contents and logs what was accepted.
    /// </summary>
    /// <exception cref="InvalidDataException">An input differs from the record and changes are not accepted; the message names each.</exception>
    public static void CheckOrRecord(string runDirectory, RunConfig config, FileHashes hashes, bool acceptChanges, TextWriter log)
    {
        string path = System.IO.Path.Combine(runDirectory, FileName);
        var now = Read(config, hashes);
        if (!File.Exists(path))
        {
            Write(path, now);
            return;
        }
        var recorded = JsonSerializer.Deserialize<SortedDictionary<string, RecordedInput>>(File.ReadAllText(path), RunConfig.Json)
                       ?? throw new InvalidDataException($"{path}: empty");
        var changes = new List<(string Field, string What)>();
        foreach (var (field, input) in now)
        {
            if (!recorded.TryGetValue(field, out var before)) changes.Add((field, $"{input.Path} was not an input when the run started"));
            else if (before.Path != input.Path) changes.Add((field, $"names {input.Path}; the run started with {before.Path}"));
            else if (before.Sha256 != input.Sha256) changes.Add((field, Describe(before, input)));
        }
        foreach (string field in recorded.Keys.Except(now.Keys, StringComparer.Ordinal))
            changes.Add((field, $"{recorded[field].Path} is no longer an input"));
        if (changes.Count == 0) return;
        string list = string.Join("\n", changes.Select(c => $"  {c.Field}: {c.What}"));
        if (!acceptChanges)
            throw new InvalidDataException($"{runDirectory}: inputs differ from those the run recorded in {FileName}:\n{list}\n" +
                                             "restore them, start a new run folder, or pass --accept-changed-inputs to go on with the new contents " +
                                             "(stages already done keep what they made from the old ones)");
        log.WriteLine($"inputs: changes accepted and recorded in {FileName}:\n{list}");
        Write(path, now);
    }

    /// <summary>What differs: the file whose contents changed, or a checkpoint's files that changed, appeared or went.</summary>
    private static string Describe(RecordedInput before, RecordedInput now)
    {
        if (before.Files is null || now.Files is null)
            return $"{now.Path} has other contents (SHA-256 {now.Sha256[..12]}…, recorded {before.Sha256[..12]}…)";
        var names = before.Files.Keys.Union(now.Files.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var parts = names.Select(name => (before.Files.TryGetValue(name, out var a), now.Files.TryGetValue(name, out var b), name) switch
        {
            (true, true, _) when a != b => $"{name} has other contents",
            (true, false, _) => $"{name} is gone",
            (false, true, _) => $"{name} is new",
            _ => null,
        }).OfType<string>();
        return $"{now.Path}: {string.Join(", ", parts)}";
    }

    private static void Write(string path, SortedDictionary<string, RecordedInput> inputs)
    {
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(inputs, RunConfig.Json));
    }
}
