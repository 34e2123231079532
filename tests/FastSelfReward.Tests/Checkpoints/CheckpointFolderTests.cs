using FastSelfReward.Checkpoints;
using FastSelfReward.Model;

namespace FastSelfReward.Tests.Checkpoints;

public class CheckpointFolderTests
{
    private static TensorToSave T(string name, params long[] shape)
    {
        long n = shape.Aggregate(1L, (a, d) => a * d);
        return TensorToSave.FromMemory(name, shape, Enumerable.Range(0, (int)n).Select(i => i + name.Length * 0.5f).ToArray());
    }

    private static readonly TensorToSave[] Tensors =
    [
        T("model.embed_tokens.weight", 8, 4),
        T("model.layers.0.self_attn.q_proj.weight", 4, 4),
        T("model.norm.weight", 4),
    ];

    private static List<(string Name, IReadOnlyList<long> Shape)> Layout(params TensorToSave[] tensors) =>
        tensors.Select(t => (t.Name, t.Shape)).ToList();

    private static void WriteIndex(string dir, string json) => File.WriteAllText(Path.Combine(dir, CheckpointFolder.IndexFileName), json);

    [Fact]
    public void SingleFileFolderReadsAndDetectsTiedEmbeddings()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("model.safetensors"), Tensors);
        using CheckpointFolder folder = CheckpointFolder.Open(dir.Path);
        Assert.True(folder.HasTiedEmbeddings);
        Assert.Equal(3, folder.Tensors.Count);
        Assert.Equal([8L, 4L], folder.Tensors["model.embed_tokens.weight"].Shape);
        var norm = new float[4];
        folder.ReadFloat32("model.norm.weight", norm);
        Assert.Equal([8.5f, 9.5f, 10.5f, 11.5f], norm);
        folder.Verify(Layout(Tensors));
    }

    [Fact]
    public void ShardedFolderIsTheUnionOfItsShards()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), Tensors[..2]);
        SafetensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), [Tensors[2], T("lm_head.weight", 8, 4)]);
        WriteIndex(dir.Path, """
            {"metadata":{"total_size":0},"weight_map":{
              "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
              "model.layers.0.self_attn.q_proj.weight":"model-00001-of-00002.safetensors",
              "model.norm.weight":"model-00002-of-00002.safetensors",
              "lm_head.weight":"model-00002-of-00002.safetensors"}}
            """);
        using CheckpointFolder folder = CheckpointFolder.Open(dir.Path);
        Assert.False(folder.HasTiedEmbeddings);
        Assert.Equal(4, folder.Tensors.Count);
        var q = new float[16];
        folder.ReadFloat32("model.layers.0.self_attn.q_proj.weight", q);
        Assert.Equal(19f, q[0]);
    }

    [Fact]
    public void MissingShardIsAnError()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("a.safetensors"), Tensors);
        WriteIndex(dir.Path, """{"weight_map":{"model.embed_tokens.weight":"a.safetensors","model.norm.weight":"b.safetensors"}}""");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(dir.Path));
        Assert.Contains("shard 'b.safetensors' is listed in weight_map but missing", e.Message);
    }

    [Fact]
    public void TensorInNoShardIsAnError()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("a.safetensors"), Tensors);
        WriteIndex(dir.Path, """
            {"weight_map":{"model.embed_tokens.weight":"a.safetensors","model.layers.0.self_attn.q_proj.weight":"a.safetensors",
             "model.norm.weight":"a.safetensors","lm_head.weight":"a.safetensors"}}
            """);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(dir.Path));
        Assert.Contains("tensor 'lm_head.weight' is mapped to a.safetensors, which does not contain it", e.Message);
    }

    [Fact]
    public void TensorTheIndexDoesNotListIsAnError()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("a.safetensors"), Tensors);
        WriteIndex(dir.Path, """{"weight_map":{"model.embed_tokens.weight":"a.safetensors","model.norm.weight":"a.safetensors"}}""");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(dir.Path));
        Assert.Contains("tensor 'model.layers.0.self_attn.q_proj.weight' is in a.safetensors but weight_map says nothing about it", e.Message);
    }

    [Fact]
    public void ShardNamesCannotLeaveTheFolder()
    {
        using var dir = new ScratchFolder();
        WriteIndex(dir.Path, """{"weight_map":{"x":"../x.safetensors"}}""");
        Assert.Contains("must be a plain file name", Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(dir.Path)).Message);
        WriteIndex(dir.Path, """{"weight_map":[]}""");
        Assert.Contains("'weight_map' object", Assert.Throws<InvalidDataException>(() => CheckpointFolder.Open(dir.Path)).Message);
    }

    [Fact]
    public void EmptyFolderIsAnError()
    {
        using var dir = new ScratchFolder();
        Assert.Contains("no model.safetensors", Assert.Throws<FileNotFoundException>(() => CheckpointFolder.Open(dir.Path)).Message);
    }

    [Fact]
    public void VerifyNamesMissingExtraAndMisshapedTensors()
    {
        using var dir = new ScratchFolder();
        SafetensorsWriter.Write(dir.File("model.safetensors"), [.. Tensors, T("model.layers.0.self_attn.rotary_emb.inv_freq", 2)]);
        using CheckpointFolder folder = CheckpointFolder.Open(dir.Path);
        folder.Verify(Layout(Tensors));

        var untied = Layout([.. Tensors, T("lm_head.weight", 8, 4)]);
        Assert.Contains("missing tensor 'lm_head.weight' [8, 4]", Assert.Throws<InvalidDataException>(() => folder.Verify(untied)).Message);

        var fewer = Layout(Tensors[..2]);
        Assert.Contains("unexpected tensor 'model.norm.weight' [4]", Assert.Throws<InvalidDataException>(() => folder.Verify(fewer)).Message);

        var reshaped = Layout(Tensors);
        reshaped[0] = ("model.embed_tokens.weight", [4, 8]);
        Assert.Contains("tensor 'model.embed_tokens.weight' has shape [8, 4], expected [4, 8]",
            Assert.Throws<InvalidDataException>(() => folder.Verify(reshaped)).Message);
    }

    [Fact]
    public void SaveWritesAFolderThatOpensAgain()
    {
        using var tokenizer = new ScratchFolder();
        File.WriteAllText(tokenizer.File("tokenizer.json"), "{}");
        File.WriteAllText(tokenizer.File("special_tokens_map.json"), "{}");
        File.WriteAllText(tokenizer.File("unrelated.txt"), "x");
        using var dir = new ScratchFolder();
        string target = Path.Combine(dir.Path, "m1");
        var config = new LlamaConfig { VocabSize = 8, HiddenSize = 4, IntermediateSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 2, TieWordEmbeddings = true };
        CheckpointWriter.Save(target, config, Tensors, tokenizer.Path, SafetensorsDtype.BF16);

        Assert.True(File.Exists(Path.Combine(target, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(target, "special_tokens_map.json")));
        Assert.False(File.Exists(Path.Combine(target, "unrelated.txt")));
        Assert.Empty(Directory.GetFiles(target, "*.tmp-*"));
        // The writer spells out the derived num_key_value_heads and head_dim, as transformers does.
        Assert.Equal(config with { NumKeyValueHeads = 2, HeadDimOverride = 2 }, LlamaConfigJson.Read(Path.Combine(target, "config.json")) with { EosTokenIds = config.EosTokenIds });
        using CheckpointFolder folder = CheckpointFolder.Open(target);
        Assert.True(folder.HasTiedEmbeddings);
        Assert.Equal(SafetensorsDtype.BF16, folder.Tensors["model.norm.weight"].Dtype);
        var norm = new float[4];
        folder.ReadFloat32("model.norm.weight", norm);
        Assert.Equal([8.5f, 9.5f, 10.5f, 11.5f], norm);
    }
}
