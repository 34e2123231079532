namespace FastSelfReward.Checkpoints;

/// <summary>One tensor entry of a safetensors header: its type, shape and byte range.</summary>
/// <param name="Name">The tensor's name (a Hugging Face parameter name for Llama checkpoints).</param>
/// <param name="Dtype">The stored element type.</param>
/// <param name="Shape">Dimensions, row-major; empty for a rank-0 (scalar) tensor.</param>
/// <param name="Begin">Start of the data, in bytes from the start of the data section.</param>
/// <param name="End">End of the data (exclusive), in bytes from the start of the data section.</param>
public sealed record SafetensorsTensorInfo(
    string Name, SafetensorsDtype Dtype, IReadOnlyList<long> Shape, long Begin, long End)
{
    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Byte length of the data.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape as text, e.g. <c>[4096, 11008]</c>, for messages.</summary>
    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
