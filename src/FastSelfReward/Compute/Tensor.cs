namespace FastSelfReward.Compute;

/// <summary>Element types a backend stores.</summary>
public enum DType
{
    /// <summary>IEEE float32: the CPU backend's training and inference type.</summary>
    F32,
    /// <summary>IEEE float64: the CPU backend's gradient-check type.</summary>
    F64,
    /// <summary>int32: token ids, positions, row offsets, block tables.</summary>
    I32,
    /// <summary>bfloat16 (the top half of a float32): the CUDA backend's activation and weight-copy storage.</summary>
    BF16,
}

/// <summary>Sizes of <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType type) => type switch
    {
        DType.F32 => 4,
        DType.F64 => 8,
        DType.I32 => 4,
        DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>
    /// The type sums, statistics and master copies of values stored as <paramref name="type"/> are kept
    /// in: F32 for BF16 (whose 8-bit mantissa cannot hold an update of a weight, a gradient sum or a
    /// log-probability), the type itself otherwise.
    /// </summary>
    public static DType Wide(this DType type) => type == DType.BF16 ? DType.F32 : type;
}

/// <summary>
/// A typed view of backend memory: <see cref="Length"/> elements of <see cref="Type"/> starting at
/// <see cref="Address"/> (a host pointer on the CPU backend, a device pointer on CUDA). Views do not
/// own memory; <see cref="DeviceBuffer"/> does.
/// </summary>
public readonly record struct Tensor(nint Address, long Length, DType Type)
{
    /// <summary>The elements [offset, offset + length) of this view.</summary>
    public Tensor Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice [{offset}, {offset + length}) of a tensor of {Length} elements");
        return new Tensor(Address + (nint)(offset * Type.Size()), length, Type);
    }

    /// <summary>The elements from offset to the end.</summary>
    public Tensor Slice(long offset) => Slice(offset, Length - offset);

    /// <summary>Bytes covered by this view.</summary>
    public long Bytes => Length * Type.Size();

    /// <summary>Throws unless this view has the given type and at least <paramref name="length"/> elements.</summary>
    public Tensor Expect(DType type, long length, string name)
    {
        if (Type != type) throw new ArgumentException($"{name}: expected {type}, got {Type}");
        if (Length < length) throw new ArgumentException($"{name}: expected at least {length} elements, got {Length}");
        return this;
    }
}

/// <summary>Memory owned by a backend, freed on <see cref="Dispose"/>.</summary>
public sealed class DeviceBuffer : IDisposable
{
    private readonly Action<nint> _free;
    private int _disposed;

    internal DeviceBuffer(nint address, long length, DType type, Action<nint> free)
    {
        View = new Tensor(address, length, type);
        _free = free;
    }

    /// <summary>The whole buffer.</summary>
    public Tensor View { get; }

    /// <summary>Elements.</summary>
    public long Length => View.Length;

    /// <summary>Sub-view, see <see cref="Tensor.Slice(long, long)"/>.</summary>
    public Tensor Slice(long offset, long length) => View.Slice(offset, length);

    public static implicit operator Tensor(DeviceBuffer buffer) => buffer.View;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _free(View.Address);
    }
}
