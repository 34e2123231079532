namespace FastSelfReward.Model;

/// <summary>
/// The size of a Llama-family model trained from scratch; the vocabulary and special ids come from
/// its tokenizer (<see cref="ToConfig"/>). The defaults make a small model that trains on a CPU in
/// minutes: 4 blocks of width 256, 4 heads, context 256.
/// </summary>
public sealed record ModelShape
{
    /// <summary>Transformer blocks.</summary>
    public int Layers { get; init; } = 4;

    /// <summary>Hidden size.</summary>
    public int HiddenSize { get; init; } = 256;

    /// <summary>Attention heads.</summary>
    public int Heads { get; init; } = 4;

    /// <summary>Key/value heads for grouped-query attention; <see cref="Heads"/> when null.</summary>
    public int? KvHeads { get; init; }

    /// <summary>SwiGLU hidden size; 8/3 of <see cref="HiddenSize"/>, rounded up to a multiple of 32, when null (LLaMA's ratio).</summary>
    public int? IntermediateSize { get; init; }

    /// <summary>Whether the output layer shares the embedding matrix.</summary>
    public bool TieEmbeddings { get; init; }

    /// <summary>Context length: the longest training example and max_position_embeddings.</summary>
    public int Context { get; init; } = 256;

    /// <summary>The configuration of this shape for a vocabulary of <paramref name="vocabSize"/> ids.</summary>
    /// <exception cref="InvalidDataException">The sizes are inconsistent (heads not dividing the width, ...).</exception>
    public LlamaConfig ToConfig(int vocabSize, int bosId, IReadOnlyList<int> eosIds) => new LlamaConfig
    {
        VocabSize = vocabSize,
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize ?? (8 * HiddenSize / 3 + 31) / 32 * 32,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        NumKeyValueHeads = KvHeads ?? Heads,
        MaxPositionEmbeddings = Context,
        RmsNormEps = 1e-5,
        TieWordEmbeddings = TieEmbeddings,
        BosTokenId = bosId,
        EosTokenIds = eosIds,
    }.Validate();

    /// <summary>
    /// A configuration file's architecture for a model trained from scratch on another tokenizer:
    /// the tokenizer's special ids where it has them, and optionally another context or tied embeddings.
    /// </summary>
    /// <exception cref="InvalidDataException">The file's vocabulary is smaller than the tokenizer's.</exception>
    public static LlamaConfig Adapt(LlamaConfig file, string source, int tokenizerVocab, int? bosId, int? eosId, int? context, bool tieEmbeddings)
    {
        if (file.VocabSize < tokenizerVocab)
            throw new InvalidDataException($"{source}: vocab_size {file.VocabSize} is smaller than the tokenizer's {tokenizerVocab} ids");
        return (file with
        {
            MaxPositionEmbeddings = context ?? file.MaxPositionEmbeddings,
            TieWordEmbeddings = file.TieWordEmbeddings || tieEmbeddings,
            BosTokenId = bosId ?? file.BosTokenId,
            EosTokenIds = eosId is int eos ? [eos] : file.EosTokenIds,
        }).Validate();
    }
}
