using System.Text;

namespace FastSelfReward.Data;

/// <summary>
/// A 64-bit hash of text that never changes between processes, machines or .NET versions
/// (string.GetHashCode is randomised per process): FNV-1a over the UTF-8 bytes, keyed by a seed,
/// then SplitMix64's finaliser so every bit depends on every input byte.
/// </summary>
internal static class StableHash
{
    public static ulong Of(string text, ulong seed = 0)
    {
        ulong h = 14695981039346656037UL ^ Mix(seed);
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            h ^= b;
            h *= 1099511628211UL;
        }
        return Mix(h);
    }

    /// <summary>The hash mapped to [0, 1).</summary>
    public static double Unit(string text, ulong seed = 0) => (Of(text, seed) >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
