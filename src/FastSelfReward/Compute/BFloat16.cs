namespace FastSelfReward.Compute;

/// <summary>
/// bfloat16 on the host, bit for bit as kernels/common/bf16.cuh computes it: a bf16 is the top 16
/// bits of a float32; narrowing rounds to nearest, ties to even; a NaN stays a (quiet) NaN.
/// </summary>
public static class BFloat16
{
    /// <summary>The bf16 bits nearest to <paramref name="value"/>.</summary>
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>The float32 a bf16 denotes (exact).</summary>
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary><paramref name="value"/> rounded to the nearest bf16, as a float.</summary>
    public static float Round(float value) => ToFloat(FromFloat(value));
}
