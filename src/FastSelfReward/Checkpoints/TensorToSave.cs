namespace FastSelfReward.Checkpoints;

/// <summary>
/// Fills <paramref name="destination"/> with the float32 elements of a tensor starting at element
/// <paramref name="elementOffset"/> (row-major). Writers pull a tensor in bounded chunks this way,
/// so parameters that live in native or device memory never need one managed copy.
/// </summary>
public delegate void TensorChunkSource(long elementOffset, Span<float> destination);

/// <summary>A float32 tensor to be written to a checkpoint.</summary>
/// <param name="Name">The Hugging Face parameter name.</param>
/// <param name="Shape">Dimensions, row-major (linear weights are [out, in]).</param>
/// <param name="Source">Supplies the elements chunk by chunk.</param>
public sealed record TensorToSave(string Name, IReadOnlyList<long> Shape, TensorChunkSource Source)
{
    /// <summary>A tensor whose elements are already in managed memory.</summary>
    public static TensorToSave FromMemory(string name, IReadOnlyList<long> shape, ReadOnlyMemory<float> data)
    {
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (count != data.Length)
            throw new ArgumentException(
                $"tensor '{name}': shape {SafetensorsTensorInfo.FormatShape(shape)} has {count} elements, data has {data.Length}", nameof(data));
        return new TensorToSave(name, shape, (offset, destination) => data.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination));
    }

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
}
