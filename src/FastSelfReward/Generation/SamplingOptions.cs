namespace FastSelfReward.Generation;

/// <summary>How tokens are drawn: temperature 0 is greedy; otherwise temperature and nucleus (top-p) sampling.</summary>
public sealed record SamplingOptions
{
    public double Temperature { get; init; } = 0.7;
    public double TopP { get; init; } = 0.9;
    public int MaxNewTokens { get; init; } = 256;
    public ulong Seed { get; init; }

    /// <summary>Throws naming the option when a value is out of range.</summary>
    public SamplingOptions Validate()
    {
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be a finite value ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must lie in (0, 1]");
        if (MaxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be positive");
        return this;
    }
}

/// <summary>Why generation of a sequence ended.</summary>
public enum FinishReason
{
    /// <summary>An end-of-sequence or end-of-turn token was produced (it is part of the output).</summary>
    Stop,
    /// <summary>The token budget or the context window ran out first.</summary>
    Length,
}

/// <summary>A prompt to complete <see cref="Samples"/> times; <see cref="RecordId"/> keys its random numbers.</summary>
public sealed record GenerationRequest(long RecordId, IReadOnlyList<int> Prompt, int Samples = 1);

/// <summary>One completion: the new tokens (the stop token included when it stopped) and why it ended.</summary>
public sealed record GeneratedSequence(long RecordId, int SampleIndex, int[] Tokens, FinishReason FinishReason);
