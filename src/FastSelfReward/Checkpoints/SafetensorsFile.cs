using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// A read-only safetensors file: its validated header, and positional reads of F32, F16 and BF16
/// tensors into float32 buffers. The file is never loaded whole; reads are thread-safe.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    // Conversion works through a bounded staging buffer so a multi-GB tensor never needs one array.
    private const int ChunkElements = 1 << 18;

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;

    private SafetensorsFile(string path, SafeFileHandle handle, SafetensorsHeader.Parsed header)
    {
        Path = path;
        _handle = handle;
        _dataStart = header.DataStart;
        _tensors = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Tensors = header.Tensors.OrderBy(t => t.Begin).ToArray();
        Metadata = header.Metadata;
    }

    /// <summary>The file's path, as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>Every tensor in the file, in data order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens a file and validates its header completely.</summary>
    /// <exception cref="InvalidDataException">The header is malformed; the message names the file, the tensor and what was expected.</exception>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            SafetensorsHeader.Parsed header = SafetensorsHeader.Read(handle, RandomAccess.GetLength(handle), path);
            return new SafetensorsFile(path, handle, header);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, out SafetensorsTensorInfo info) => _tensors.TryGetValue(name, out info!);

    /// <summary>Reads a whole tensor, converting it to float32.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Exactly <see cref="SafetensorsTensorInfo.ElementCount"/> elements.</param>
    public void ReadFloat32(string name, Span<float> destination)
    {
        SafetensorsTensorInfo info = Get(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException(
                $"{Path}: tensor '{name}' {info.ShapeText} has {info.ElementCount} elements, destination has {destination.Length}",
                nameof(destination));
        ReadFloat32(name, 0, destination);
    }

    /// <summary>
    /// Reads <paramref name="destination"/>.Length elements starting at element
    /// <paramref name="elementOffset"/> of a tensor (row-major), converting them to float32; lets a
    /// tensor of more than 2³¹ elements be read in pieces.
    /// </summary>
    public void ReadFloat32(string name, long elementOffset, Span<float> destination)
    {
        SafetensorsTensorInfo info = Get(name);
        if (!info.Dtype.IsReadableAsFloat32())
            throw new InvalidDataException($"{Path}: tensor '{name}' is {info.Dtype}; only F32, F16 and BF16 can be read as float32");
        if (elementOffset < 0 || elementOffset > info.ElementCount - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(elementOffset),
                $"{Path}: elements [{elementOffset}, {elementOffset + destination.Length}) are outside tensor '{name}' of {info.ElementCount} elements");
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported");

        int elementBytes = info.Dtype.BitSize() / 8;
        long fileOffset = _dataStart + info.Begin + elementOffset * elementBytes;
        if (info.Dtype == SafetensorsDtype.F32)
        {
            SafetensorsHeader.ReadExactly(_handle, MemoryMarshal.AsBytes(destination), fileOffset, Path);
            return;
        }
        byte[] staging = new byte[Math.Min(destination.Length, ChunkElements) * elementBytes];
        while (!destination.IsEmpty)
        {
            int count = Math.Min(destination.Length, ChunkElements);
            Span<byte> bytes = staging.AsSpan(0, count * elementBytes);
            SafetensorsHeader.ReadExactly(_handle, bytes, fileOffset, Path);
            ReadOnlySpan<ushort> halves = MemoryMarshal.Cast<byte, ushort>(bytes);
            Span<float> target = destination[..count];
            if (info.Dtype == SafetensorsDtype.BF16)
                for (int i = 0; i < count; i++) target[i] = BitConverter.Int32BitsToSingle(halves[i] << 16);
            else
                for (int i = 0; i < count; i++) target[i] = (float)BitConverter.UInt16BitsToHalf(halves[i]);
            destination = destination[count..];
            fileOffset += bytes.Length;
        }
    }

    private SafetensorsTensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out SafetensorsTensorInfo? info)
            ? info
            : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
