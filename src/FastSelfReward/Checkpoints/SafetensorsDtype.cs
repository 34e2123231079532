namespace FastSelfReward.Checkpoints;

/// <summary>The element types of the safetensors format, spelled as in its header.</summary>
public enum SafetensorsDtype
{
    BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64,
    F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F4, F6_E2M3, F6_E3M2,
}

/// <summary>Sizes and names of <see cref="SafetensorsDtype"/> values.</summary>
public static class SafetensorsDtypes
{
    /// <summary>Bits per element; sub-byte types (F4, F6_*) pack several elements per byte.</summary>
    public static int BitSize(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.F4 => 4,
        SafetensorsDtype.F6_E2M3 or SafetensorsDtype.F6_E3M2 => 6,
        SafetensorsDtype.BOOL or SafetensorsDtype.U8 or SafetensorsDtype.I8 or SafetensorsDtype.F8_E5M2
            or SafetensorsDtype.F8_E4M3 or SafetensorsDtype.F8_E8M0 or SafetensorsDtype.F8_E4M3FNUZ
            or SafetensorsDtype.F8_E5M2FNUZ => 8,
        SafetensorsDtype.I16 or SafetensorsDtype.U16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 16,
        SafetensorsDtype.I32 or SafetensorsDtype.U32 or SafetensorsDtype.F32 => 32,
        SafetensorsDtype.F64 or SafetensorsDtype.I64 or SafetensorsDtype.U64 or SafetensorsDtype.C64 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };

    /// <summary>True for the types <see cref="SafetensorsFile.ReadFloat32(string, Span{float})"/> converts.</summary>
    public static bool IsReadableAsFloat32(this SafetensorsDtype dtype) =>
        dtype is SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16;

    /// <summary>Parses a header dtype string exactly (case-sensitive, as the format spells it).</summary>
    public static bool TryParse(string? text, out SafetensorsDtype dtype)
    {
        // Enum.TryParse also accepts numbers and other casings; the format allows neither.
        foreach (SafetensorsDtype candidate in Enum.GetValues<SafetensorsDtype>())
        {
            if (string.Equals(candidate.ToString(), text, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}
