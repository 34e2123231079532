namespace FastSelfReward.Model;

/// <summary>One named tensor inside a flat parameter buffer.</summary>
/// <param name="Name">The Hugging Face name, e.g. <c>model.layers.3.mlp.up_proj.weight</c>.</param>
/// <param name="Shape">Row-major shape; linear weights are [out, in].</param>
/// <param name="Offset">First element in the flat buffer (a multiple of <see cref="ParameterLayout.Alignment"/>).</param>
/// <param name="Decay">Whether AdamW applies weight decay (matrices yes, norm gains no).</param>
public sealed record ParameterEntry(string Name, long[] Shape, long Offset, bool Decay)
{
    /// <summary>Number of elements.</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The only place that knows where each parameter lives in the flat parameter, gradient and
/// optimizer-moment buffers (all three share this layout). Offsets are aligned to 64 elements
/// (256 bytes in fp32) so every tensor starts on a cache-line and vector boundary.
/// </summary>
public sealed class ParameterLayout
{
    /// <summary>Alignment of every offset, in elements.</summary>
    public const long Alignment = 64;

    private readonly Dictionary<string, ParameterEntry> _byName = new(StringComparer.Ordinal);

    public ParameterLayout(LlamaConfig config)
    {
        config.Validate();
        long c = config.HiddenSize, f = config.IntermediateSize, q = config.QueryDim, kv = config.KvDim;
        var entries = new List<ParameterEntry>();
        long offset = 0;
        void Add(string name, bool decay, params long[] shape)
        {
            var entry = new ParameterEntry(name, shape, offset, decay);
            entries.Add(entry);
            _byName.Add(name, entry);
            offset += (entry.Count + Alignment - 1) / Alignment * Alignment;
        }

        Add("model.embed_tokens.weight", true, config.VocabSize, c);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Add(p + "input_layernorm.weight", false, c);
            Add(p + "self_attn.q_proj.weight", true, q, c);
            Add(p + "self_attn.k_proj.weight", true, kv, c);
            Add(p + "self_attn.v_proj.weight", true, kv, c);
            Add(p + "self_attn.o_proj.weight", true, c, q);
            Add(p + "post_attention_layernorm.weight", false, c);
            Add(p + "mlp.gate_proj.weight", true, f, c);
            Add(p + "mlp.up_proj.weight", true, f, c);
            Add(p + "mlp.down_proj.weight", true, c, f);
        }
        Add("model.norm.weight", false, c);
        if (!config.TieWordEmbeddings) Add("lm_head.weight", true, config.VocabSize, c);

        Entries = entries;
        TotalLength = offset;
    }

    /// <summary>Every tensor, in buffer order.</summary>
    public IReadOnlyList<ParameterEntry> Entries { get; }

    /// <summary>Length of the flat buffer in elements (padding included).</summary>
    public long TotalLength { get; }

    /// <summary>The entry of a Hugging Face tensor name; throws naming it when absent.</summary>
    public ParameterEntry this[string name] =>
        _byName.TryGetValue(name, out var entry) ? entry : throw new KeyNotFoundException($"no parameter named '{name}' in this model");

    /// <summary>Whether the model has a tensor of this name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);
}
