using FastSelfReward.Model;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// Saves a model as a Hugging Face checkpoint folder: <c>config.json</c>, <c>model.safetensors</c>
/// and the tokenizer files copied from another folder, so transformers and this project can load it.
/// </summary>
public static class CheckpointWriter
{
    /// <summary>The tokenizer files a folder may carry; those present in the source are copied.</summary>
    public static IReadOnlyList<string> TokenizerFileNames { get; } =
    [
        "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.json", "merges.txt", "added_tokens.json", "generation_config.json",
    ];

    /// <summary>Writes config, weights and tokenizer files into <paramref name="directory"/> (created if needed).</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="config">The architecture; written as config.json.</param>
    /// <param name="tensors">Every parameter under its Hugging Face name (no lm_head.weight when embeddings are tied).</param>
    /// <param name="tokenizerDirectory">A folder whose tokenizer files (and *.tiktoken) are copied, or null.</param>
    /// <param name="dtype">Weight storage type: F32 (exact, the default) or BF16.</param>
    /// <remarks>
    /// Each file is written under a temporary name and renamed into place, so a crash leaves either
    /// the old file or the new one. Weights go last: a folder with a new model.safetensors is complete.
    /// </remarks>
    public static void Save(
        string directory,
        LlamaConfig config,
        IEnumerable<TensorToSave> tensors,
        string? tokenizerDirectory = null,
        SafetensorsDtype dtype = SafetensorsDtype.F32)
    {
        config.Validate();
        System.IO.Directory.CreateDirectory(directory);
        if (tokenizerDirectory is not null && !SameFolder(tokenizerDirectory, directory))
            CopyTokenizerFiles(tokenizerDirectory, directory);
        LlamaConfigJson.Write(config, Path.Combine(directory, LlamaConfigJson.FileName),
            dtype == SafetensorsDtype.BF16 ? "bfloat16" : dtype == SafetensorsDtype.F16 ? "float16" : "float32");
        // A stale shard index would shadow the new single file when the folder is opened again.
        File.Delete(Path.Combine(directory, CheckpointFolder.IndexFileName));
        // transformers refuses a safetensors file whose metadata lacks format=pt.
        SafetensorsWriter.Write(Path.Combine(directory, CheckpointFolder.SingleFileName), tensors, dtype,
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Copies the tokenizer files present in <paramref name="source"/> into <paramref name="destination"/>.</summary>
    public static void CopyTokenizerFiles(string source, string destination)
    {
        IEnumerable<string> names = TokenizerFileNames
            .Where(n => File.Exists(Path.Combine(source, n)))
            .Concat(System.IO.Directory.EnumerateFiles(source, "*.tiktoken").Select(Path.GetFileName).OfType<string>());
        foreach (string name in names)
        {
            string target = Path.Combine(destination, name);
            string temp = target + ".tmp-" + Environment.ProcessId;
            File.Copy(Path.Combine(source, name), temp, overwrite: true);
            File.Move(temp, target, overwrite: true);
        }
    }

    private static bool SameFolder(string a, string b) =>
        string.Equals(Path.GetFullPath(a).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(b).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal);
}
