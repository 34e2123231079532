using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Checkpoints;

public sealed class ModelCheckpointTests : IDisposable
{
    private readonly CpuKernels _kernels = new();

    public void Dispose() => _kernels.Dispose();

    private static int[] Bits(IKernels kernels, LlamaModel model)
    {
        var values = new float[model.Layout.TotalLength];
        kernels.Download(model.Parameters, values);
        return values.Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    private static IEnumerable<TensorToSave> Tensors(LlamaModel model) =>
        model.Layout.Entries.Select(e =>
        {
            var values = new float[e.Count];
            model.Kernels.Download(model.Parameter(e.Name), values);
            return TensorToSave.FromMemory(e.Name, e.Shape, values);
        });

    // An untied vocabulary of 16411 makes the embedding and head (16411 × 16) span two load chunks.
    [Theory]
    [InlineData(true, 19)]
    [InlineData(false, 16411)]
    public void SaveThenLoadIsBitExact(bool tied, int vocab)
    {
        using var dir = new ScratchFolder();
        using var model = TinyModels.Create(_kernels, TinyModels.Config(tied, vocab), DType.F32);
        ModelCheckpoint.Save(model, dir.Path);

        using var loaded = ModelCheckpoint.Load(_kernels, dir.Path);
        Assert.Equal(model.Config.EosTokenIds, loaded.Config.EosTokenIds);
        // config.json spells out head_dim, which the in-memory config leaves to its default.
        Assert.Equal(model.Config.HeadDim, loaded.Config.HeadDim);
        Assert.Equal(model.Config, loaded.Config with { EosTokenIds = model.Config.EosTokenIds, HeadDimOverride = 0 });
        using (var file = SafetensorsFile.Open(dir.File("model.safetensors")))
            Assert.Equal(tied, !file.TryGetTensor("lm_head.weight", out _));
        Assert.Equal(Bits(_kernels, model), Bits(_kernels, loaded));
    }

    [Fact]
    public void ALlama3ScaledModelKeepsItsScalingThroughASaveAndRotatesByIt()
    {
        using var dir = new ScratchFolder();
        var config = TinyModels.Config() with { RopeScaling = new Llama3RopeScaling(4, 1, 4, 8) };
        using var model = TinyModels.Create(_kernels, config, DType.F32);
        ModelCheckpoint.Save(model, dir.Path);
        using var loaded = ModelCheckpoint.Load(_kernels, dir.Path);
        Assert.Equal(config.RopeScaling, loaded.Config.RopeScaling);

        using var unscaled = TinyModels.Create(_kernels, config with { RopeScaling = null }, DType.F32);
        _kernels.Upload(unscaled.Parameters, Bits(_kernels, model).Select(BitConverter.Int32BitsToSingle).ToArray());
        unscaled.ParametersChanged();
        int[] sequence = TinyModels.Sequences(config.VocabSize, 1, 40)[0];
        double[] LogProbs(LlamaModel m)
        {
            var logp = new double[sequence.Length];
            m.Forward(TokenBatch.Pack([sequence]), training: false);
            m.TokenLogProbs([.. sequence.Skip(1), -1], logp);
            return logp;
        }
        Assert.Equal(LogProbs(model), LogProbs(loaded));
        Assert.NotEqual(LogProbs(model), LogProbs(unscaled));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void AWeightThatIsNotFiniteIsRefusedOnLoadNamingTheTensorAndElement(float poison)
    {
        using var dir = new ScratchFolder();
        using var model = TinyModels.Create(_kernels, TinyModels.Config(), DType.F32);
        var entry = model.Layout["model.layers.1.mlp.up_proj.weight"];
        _kernels.Upload(model.Parameters.Slice(entry.Offset + 37, 1), [poison]);
        ModelCheckpoint.Save(model, dir.Path);
        var error = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(_kernels, dir.Path));
        Assert.Contains("tensor 'model.layers.1.mlp.up_proj.weight' holds", error.Message);
        Assert.Contains("at element 37", error.Message);
    }

    [Fact]
    public void TheFiniteCheckFindsAPoisonAnywhereInAChunk()
    {
        var values = new float[1003];
        for (int i = 0; i < values.Length; i++) values[i] = (i % 7 - 3) * 1e30f;
        Assert.Null(ModelCheckpoint.FirstNonFinite(values));
        foreach (int at in new[] { 0, 5, 512, 1001, 1002 })
        {
            float saved = values[at];
            values[at] = float.NaN;
            Assert.Equal(at, ModelCheckpoint.FirstNonFinite(values));
            values[at] = float.NegativeInfinity;
            Assert.Equal(at, ModelCheckpoint.FirstNonFinite(values));
            values[at] = saved;
        }
    }

    [Fact]
    public void SaveIntoReplacesAnotherModelAndKeepsTheFoldersOtherFiles()
    {
        using var dir = new ScratchFolder();
        using var tokenizer = new ScratchFolder();
        File.WriteAllText(tokenizer.File("tokenizer.json"), "{}");
        using (var other = TinyModels.Create(_kernels, TinyModels.Config(vocab: 40), DType.F32))
            ModelCheckpoint.Save(other, dir.Path);
        File.WriteAllText(dir.File("metrics.jsonl"), "{\"step\":1}\n");
        // What a save killed midway leaves behind.
        Directory.CreateDirectory(Path.Combine(dir.Path, ModelCheckpoint.StagingFolderName));
        File.WriteAllText(Path.Combine(dir.Path, ModelCheckpoint.StagingFolderName, "model.safetensors"), "torn");

        using var model = TinyModels.Create(_kernels, TinyModels.Config(vocab: 23), DType.F32, seed: 5);
        ModelCheckpoint.SaveInto(model, dir.Path, tokenizer.Path);

        using var loaded = ModelCheckpoint.Load(_kernels, dir.Path);
        Assert.Equal(23, loaded.Config.VocabSize);
        Assert.Equal(Bits(_kernels, model), Bits(_kernels, loaded));
        Assert.Equal("{\"step\":1}\n", File.ReadAllText(dir.File("metrics.jsonl")));
        Assert.True(File.Exists(dir.File("tokenizer.json")));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ModelCheckpoint.StagingFolderName)));
    }

    [Fact]
    public void SaveCopiesTokenizerFiles()
    {
        using var tokenizer = new ScratchFolder();
        using var dir = new ScratchFolder();
        File.WriteAllText(tokenizer.File("tokenizer.json"), "{}");
        File.WriteAllText(tokenizer.File("tokenizer_config.json"), "{}");
        using var model = TinyModels.Create(_kernels, TinyModels.Config(), DType.F32);
        ModelCheckpoint.Save(model, dir.Path, tokenizer.Path);
        Assert.True(File.Exists(dir.File("tokenizer.json")));
        Assert.True(File.Exists(dir.File("tokenizer_config.json")));
    }

    [Fact]
    public void MissingLmHeadLoadsAsTiedEmbeddings()
    {
        using var dir = new ScratchFolder();
        using var model = TinyModels.Create(_kernels, TinyModels.Config(tied: false), DType.F32);
        CheckpointWriter.Save(dir.Path, model.Config, Tensors(model).Where(t => t.Name != "lm_head.weight"));
        using var loaded = ModelCheckpoint.Load(_kernels, dir.Path);
        Assert.True(loaded.Config.TieWordEmbeddings);
        Assert.False(loaded.Layout.Contains("lm_head.weight"));
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var dir = new ScratchFolder();
        using var model = TinyModels.Create(_kernels, TinyModels.Config(), DType.F32);
        CheckpointWriter.Save(dir.Path, model.Config, Tensors(model).Where(t => t.Name != "model.layers.1.mlp.up_proj.weight"));
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(_kernels, dir.Path));
        Assert.Contains("missing tensor 'model.layers.1.mlp.up_proj.weight' [24, 16]", e.Message);
    }

    [Fact]
    public void WrongShapeIsNamed()
    {
        using var dir = new ScratchFolder();
        using var model = TinyModels.Create(_kernels, TinyModels.Config(), DType.F32);
        var tensors = Tensors(model).Select(t => t.Name == "model.layers.0.self_attn.k_proj.weight"
            ? TensorToSave.FromMemory(t.Name, [16, 8], new float[128])
            : t);
        CheckpointWriter.Save(dir.Path, model.Config, tensors);
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(_kernels, dir.Path));
        Assert.Contains("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [16, 8], expected [8, 16]", e.Message);
    }

    [Fact]
    public void MissingConfigIsNamed()
    {
        using var dir = new ScratchFolder();
        var e = Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(_kernels, dir.Path));
        Assert.Contains("config.json", e.Message);
    }
}
