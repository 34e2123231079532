namespace FastSelfReward.Compute;

/// <summary>
/// Backend scratch memory that grows to the largest request and is then reused, so a steady
/// training or decoding loop allocates nothing after its first step.
/// </summary>
internal sealed class GrowableBuffer(IKernels kernels, DType type) : IDisposable
{
    private DeviceBuffer? _buffer;

    /// <summary>A view of exactly <paramref name="length"/> elements (contents unspecified).</summary>
    public Tensor Get(long length)
    {
        if (_buffer is null || _buffer.Length < length)
        {
            _buffer?.Dispose();
            _buffer = kernels.Allocate(Math.Max(length, 1), type);
        }
        return _buffer.Slice(0, length);
    }

    /// <summary>Uploads host integers and returns their view.</summary>
    public Tensor Put(ReadOnlySpan<int> values)
    {
        var view = Get(values.Length);
        kernels.Upload(view, values);
        return view;
    }

    /// <summary>Uploads host values (converted to this buffer's type) and returns their view.</summary>
    public Tensor Put(ReadOnlySpan<double> values)
    {
        var view = Get(values.Length);
        kernels.Upload(view, values);
        return view;
    }

    public void Dispose() => _buffer?.Dispose();
}
