namespace FastSelfReward.Model;

/// <summary>
/// The architecture of a Llama-family model, named as in Hugging Face's config.json
/// (<c>LlamaConfig</c>). <see cref="HeadDim"/> defaults to hidden_size / num_attention_heads and
/// <see cref="NumKeyValueHeads"/> to num_attention_heads, as in transformers.
/// </summary>
public sealed record LlamaConfig
{
    public int VocabSize { get; init; } = 32000;
    public int HiddenSize { get; init; } = 4096;
    public int IntermediateSize { get; init; } = 11008;
    public int NumHiddenLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    public int NumKeyValueHeads { get; init; }
    public int HeadDimOverride { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>Llama 3's RoPE scaling (<c>rope_type: llama3</c>); null for plain RoPE.</summary>
    public Llama3RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];

    /// <summary>Key/value heads (grouped-query attention); num_attention_heads when unset.</summary>
    public int KvHeads => NumKeyValueHeads > 0 ? NumKeyValueHeads : NumAttentionHeads;

    /// <summary>Size of one attention head; hidden_size / num_attention_heads when unset.</summary>
    public int HeadDim => HeadDimOverride > 0 ? HeadDimOverride : HiddenSize / NumAttentionHeads;

    /// <summary>Width of the concatenated query heads.</summary>
    public int QueryDim => NumAttentionHeads * HeadDim;

    /// <summary>Width of the concatenated key (or value) heads.</summary>
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Throws with the offending field unless the shapes are consistent.</summary>
    public LlamaConfig Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"invalid Llama config: {message}");
        }
        Require(VocabSize > 0, $"vocab_size must be positive, got {VocabSize}");
        Require(HiddenSize > 0, $"hidden_size must be positive, got {HiddenSize}");
        Require(IntermediateSize > 0, $"intermediate_size must be positive, got {IntermediateSize}");
        Require(NumHiddenLayers > 0, $"num_hidden_layers must be positive, got {NumHiddenLayers}");
        Require(NumAttentionHeads > 0, $"num_attention_heads must be positive, got {NumAttentionHeads}");
        Require(KvHeads > 0 && NumAttentionHeads % KvHeads == 0,
            $"num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({KvHeads})");
        Require(HeadDim > 0 && HeadDim % 2 == 0, $"head_dim must be positive and even (rotate-half RoPE), got {HeadDim}");
        Require(HeadDimOverride > 0 || HiddenSize % NumAttentionHeads == 0,
            $"hidden_size ({HiddenSize}) must be divisible by num_attention_heads ({NumAttentionHeads}) when head_dim is unset");
        Require(RmsNormEps > 0, $"rms_norm_eps must be positive, got {RmsNormEps}");
        Require(RopeTheta > 0, $"rope_theta must be positive, got {RopeTheta}");
        Require(RopeScaling?.Problem() is null, $"rope_scaling: {RopeScaling?.Problem()}");
        Require(MaxPositionEmbeddings > 0, $"max_position_embeddings must be positive, got {MaxPositionEmbeddings}");
        Require(BosTokenId >= 0 && BosTokenId < VocabSize, $"bos_token_id {BosTokenId} lies outside the vocabulary (vocab_size {VocabSize})");
        foreach (int eos in EosTokenIds)
            Require(eos >= 0 && eos < VocabSize, $"eos_token_id {eos} lies outside the vocabulary (vocab_size {VocabSize})");
        return this;
    }

    /// <summary>Parameter count (lm_head included unless tied).</summary>
    public long ParameterCount
    {
        get
        {
            long c = HiddenSize, f = IntermediateSize;
            long perLayer = 2 * c + c * QueryDim + 2 * c * KvDim + QueryDim * c + 3 * c * f;
            return (long)VocabSize * c * (TieWordEmbeddings ? 1 : 2) + NumHiddenLayers * perLayer + c;
        }
    }
}
