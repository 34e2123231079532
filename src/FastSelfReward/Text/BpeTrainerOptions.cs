namespace FastSelfReward.Text;

/// <summary>Settings of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>
    /// Ids in all: the 256 byte tokens, the learned merges and the special tokens. Training stops
    /// earlier when no pair occurs <see cref="MinPairCount"/> times.
    /// </summary>
    public int VocabSize { get; init; } = 1024;

    /// <summary>Special tokens, given the last ids in this order. The default suits the chatml template.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>The beginning-of-sequence token (one of <see cref="SpecialTokens"/>), or null for none.</summary>
    public string? BosToken { get; init; }

    /// <summary>The end-of-sequence token (one of <see cref="SpecialTokens"/>), or null for none.</summary>
    public string? EosToken { get; init; } = "<|endoftext|>";

    /// <summary>A pair seen fewer times than this is not merged.</summary>
    public int MinPairCount { get; init; } = 2;
}
