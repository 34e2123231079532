namespace FastSelfReward.Model;

/// <summary>
/// Llama 3.1's frequency-dependent RoPE scaling (<c>rope_type: llama3</c>), which stretches the
/// context a model was trained with: wavelengths longer than
/// <see cref="OriginalMaxPositionEmbeddings"/> / <see cref="LowFreqFactor"/> are slowed by
/// <see cref="Factor"/>, those shorter than <see cref="OriginalMaxPositionEmbeddings"/> /
/// <see cref="HighFreqFactor"/> are kept, and those between are blended (see <see cref="RopeFrequencies"/>).
/// </summary>
/// <param name="Factor">How much the low frequencies are slowed (Llama 3.1: 8; 3.2: 32).</param>
/// <param name="LowFreqFactor">Sets the longest wavelength kept unblended (Llama 3.x: 1).</param>
/// <param name="HighFreqFactor">Sets the shortest wavelength that is blended (Llama 3.x: 4).</param>
/// <param name="OriginalMaxPositionEmbeddings">The context of the model before scaling (Llama 3.x: 8192).</param>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings)
{
    /// <summary>The field in error when the values are inconsistent, else null.</summary>
    public string? Problem() =>
        !(Factor >= 1 && double.IsFinite(Factor)) ? $"factor must be at least 1, got {Factor}"
        : !(LowFreqFactor > 0) ? $"low_freq_factor must be positive, got {LowFreqFactor}"
        : !(HighFreqFactor > LowFreqFactor && double.IsFinite(HighFreqFactor)) ? $"high_freq_factor must exceed low_freq_factor ({LowFreqFactor}), got {HighFreqFactor}"
        : OriginalMaxPositionEmbeddings <= 0 ? $"original_max_position_embeddings must be positive, got {OriginalMaxPositionEmbeddings}"
        : null;
}

/// <summary>
/// The inverse frequencies of rotary position embedding, the one table every backend's RoPE kernel
/// reads (<see cref="Compute.IKernels.RopeForward"/>): pair i of a head of size d turns by
/// position · inv_freq[i], with
/// <code>inv_freq[i] = θ^(−2i/d),  i &lt; d/2</code>
/// and, with Llama 3's scaling (factor s, low and high frequency factors l and h, original context
/// L; wavelength λ = 2π / inv_freq):
/// <code>
/// λ &lt; L/h:  inv_freq            (high frequencies kept)
/// λ &gt; L/l:  inv_freq / s        (low frequencies slowed)
/// else:     (1 − t) inv_freq / s + t inv_freq,   t = (L/λ − l) / (h − l)
/// </code>
/// as transformers' <c>_compute_llama3_parameters</c> does (in double here, where it uses float32).
/// </summary>
public static class RopeFrequencies
{
    /// <summary>The table of <paramref name="config"/>: [head_dim / 2] values.</summary>
    public static double[] Of(LlamaConfig config) => Of(config.RopeTheta, config.HeadDim, config.RopeScaling);

    /// <summary>The table for base <paramref name="theta"/>, head size <paramref name="headDim"/> and optional scaling.</summary>
    public static double[] Of(double theta, int headDim, Llama3RopeScaling? scaling = null)
    {
        var frequencies = new double[headDim / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            double frequency = Math.Pow(theta, -2.0 * i / headDim);
            frequencies[i] = scaling is null ? frequency : Scaled(frequency, scaling);
        }
        return frequencies;
    }

    private static double Scaled(double frequency, Llama3RopeScaling s)
    {
        double wavelength = 2 * Math.PI / frequency;
        double original = s.OriginalMaxPositionEmbeddings;
        if (wavelength < original / s.HighFreqFactor) return frequency;
        if (wavelength > original / s.LowFreqFactor) return frequency / s.Factor;
        double blend = (original / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return (1 - blend) * frequency / s.Factor + blend * frequency;
    }
}
