using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// Loads a <see cref="LlamaModel"/> from a Hugging Face checkpoint folder and saves one to it.
/// Weights move between the file and the backend in chunks of at most <see cref="ChunkElements"/>
/// floats, so no managed array ever holds a whole tensor, let alone the whole model. An F32 save
/// followed by a load restores every parameter bit for bit.
/// </summary>
public static class ModelCheckpoint
{
    /// <summary>Elements staged in managed memory per transfer (1 MiB of float32).</summary>
    public const int ChunkElements = 1 << 18;

    /// <summary>
    /// Reads <c>config.json</c> and the weights of <paramref name="directory"/> into a new model on
    /// <paramref name="kernels"/>. The embeddings are tied exactly when the folder has no
    /// <c>lm_head.weight</c>, whatever config.json says, because that is what the weights allow.
    /// </summary>
    /// <exception cref="FileNotFoundException">config.json or the weights are missing.</exception>
    /// <exception cref="InvalidDataException">
    /// config.json is malformed, or a tensor is missing, unexpected, of another shape or an unreadable
    /// dtype (nothing is allocated on the backend then), or a weight is NaN or infinite; the message
    /// names the file and the tensor.
    /// </exception>
    /// <param name="kernels">The backend the model lives on.</param>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="type">The model's storage type; null takes <see cref="IKernels.ModelType"/>.</param>
    public static LlamaModel Load(IKernels kernels, string directory, DType? type = null)
    {
        string configPath = Path.Combine(directory, LlamaConfigJson.FileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{directory}: no {LlamaConfigJson.FileName} in the checkpoint folder", configPath);
        LlamaConfig config = LlamaConfigJson.Read(configPath);
        using CheckpointFolder folder = CheckpointFolder.Open(directory);
        config = config with { TieWordEmbeddings = folder.HasTiedEmbeddings };
        var layout = new ParameterLayout(config);
        folder.Verify(layout.Entries.Select(e => (e.Name, (IReadOnlyList<long>)e.Shape)));

        var model = new LlamaModel(kernels, config, type);
        try
        {
            var chunk = new float[ChunkElements];
            foreach (ParameterEntry entry in model.Layout.Entries)
            {
                for (long done = 0; done < entry.Count;)
                {
                    int count = (int)Math.Min(ChunkElements, entry.Count - done);
                    Span<float> values = chunk.AsSpan(0, count);
                    folder.ReadFloat32(entry.Name, done, values);
                    if (FirstNonFinite(values) is int bad)
                        throw new InvalidDataException($"{directory}: tensor '{entry.Name}' holds {values[bad]} at element {done + bad}; " +
                                                       "a model with NaN or infinite weights cannot be trained or run");
                    kernels.Upload(model.Parameters.Slice(entry.Offset + done, count), values);
                    done += count;
                }
            }
            model.ParametersChanged();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a checkpoint folder: config.json, model.safetensors (without
    /// lm_head.weight when the embeddings are tied) and the tokenizer files of
    /// <paramref name="tokenizerDirectory"/>. Files are replaced atomically, weights last.
    /// </summary>
    /// <param name="model">The model; its parameters are read from the backend chunk by chunk.</param>
    /// <param name="directory">The checkpoint folder, created if needed.</param>
    /// <param name="tokenizerDirectory">A folder whose tokenizer files are copied, or null for none.</param>
    /// <param name="dtype">F32 (exact, the default), BF16 or F16.</param>
    public static void Save(LlamaModel model, string directory, string? tokenizerDirectory = null, SafetensorsDtype dtype = SafetensorsDtype.F32)
    {
        IKernels kernels = model.Kernels;
        var tensors = model.Layout.Entries.Select(entry => new TensorToSave(entry.Name, entry.Shape,
            (offset, destination) => kernels.Download(model.Parameters.Slice(entry.Offset + offset, destination.Length), destination)));
        CheckpointWriter.Save(directory, model.Config, tensors, tokenizerDirectory, dtype);
    }

    /// <summary>
    /// <see cref="Save"/> into a folder that holds other files (a training run's metrics and state):
    /// the checkpoint is written whole into a staging folder inside it, then its files are renamed
    /// into place, weights last. The long write changes nothing in <paramref name="directory"/>, so a
    /// kill leaves its previous checkpoint, or, for the span of a few renames, a new config with the
    /// old weights.
    /// </summary>
    public static void SaveInto(LlamaModel model, string directory, string? tokenizerDirectory = null)
    {
        string staging = Path.Combine(directory, StagingFolderName);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Save(model, staging, tokenizerDirectory);
        File.Delete(Path.Combine(directory, CheckpointFolder.IndexFileName));
        foreach (string file in Directory.GetFiles(staging).OrderBy(f => Path.GetFileName(f) == CheckpointFolder.SingleFileName))
            File.Move(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
        Directory.Delete(staging);
    }

    /// <summary>The staging folder of <see cref="SaveInto"/>; one left by a killed save is discarded by the next.</summary>
    public const string StagingFolderName = ".saving";

    /// <summary>
    /// The index of the first NaN or infinity, or null. A whole-vector test first: x − x is 0 for
    /// every finite x and NaN otherwise, so one pass of subtractions and a sum of their bits finds a
    /// clean chunk at memory speed; only a bad one is searched element by element.
    /// </summary>
    internal static int? FirstNonFinite(ReadOnlySpan<float> values)
    {
        var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
        var poison = System.Numerics.Vector<float>.Zero;
        foreach (var v in vectors) poison += v - v;
        bool clean = System.Numerics.Vector.EqualsAll(poison, System.Numerics.Vector<float>.Zero);
        for (int i = vectors.Length * System.Numerics.Vector<float>.Count; i < values.Length && clean; i++) clean = float.IsFinite(values[i]);
        if (clean) return null;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return null;
    }
}
