using System.Text.Json.Serialization;

namespace FastSelfReward.Generation;

/// <summary>
/// How tokens are drawn: temperature 0 is greedy; otherwise temperature and nucleus (top-p)
/// sampling. A run's sampling sections in run.json are these (the seed comes from the stage).
/// </summary>
public sealed record SamplingOptions
{
    public double Temperature { get; init; } = 0.7;
    public double TopP { get; init; } = 0.9;

    /// <summary>Most new tokens per completion (the stop token included).</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Keys every random number drawn (with record, sample and position); a stage sets its own.</summary>
    [JsonIgnore]
    public ulong Seed { get; init; }

    /// <summary>Every value out of range: the field as in run.json and what is wrong with it.</summary>
    public IEnumerable<(string Field, string Message)> Problems()
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) yield return ("temperature", $"must be a finite value ≥ 0, got {Temperature.ToString(invariant)}");
        if (!(TopP > 0 && TopP <= 1)) yield return ("top_p", $"must lie in (0, 1], got {TopP.ToString(invariant)}");
        if (MaxTokens <= 0) yield return ("max_tokens", $"must be positive, got {MaxTokens}");
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the field (as in run.json) when a value is out of range.</summary>
    public SamplingOptions Validate()
    {
        foreach (var (field, message) in Problems()) throw new ArgumentException($"{field} {message}");
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
