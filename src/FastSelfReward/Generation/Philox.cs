namespace FastSelfReward.Generation;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a
/// counter-based generator: the output is a pure function of (key, counter), so the random number
/// of a sampling step is keyed by (run seed; record id, sample index, position) and does not depend
/// on which batch the row was in or whether the run was resumed.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The four 32-bit outputs of one block.</summary>
    public static (uint, uint, uint, uint) Block(ulong key, uint c0, uint c1, uint c2, uint c3)
    {
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
            k0 += W0;
            k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// The uniform in [0, 1) of one sampling step, with 24 random bits so it is exact in float32
    /// on every backend.
    /// </summary>
    public static double Uniform(ulong seed, long recordId, int sampleIndex, int position)
    {
        var (x, _, _, _) = Block(seed, (uint)recordId, (uint)((ulong)recordId >> 32), (uint)sampleIndex, (uint)position);
        return (x >> 8) * (1.0 / (1 << 24));
    }
}
