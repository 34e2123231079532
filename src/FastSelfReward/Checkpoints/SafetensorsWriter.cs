using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// Writes safetensors files laid out as the reference writer lays them out: the JSON header padded
/// with spaces to a multiple of 8 bytes, tensors ordered by descending alignment then by name, so
/// every tensor is naturally aligned. The file appears under its name only once complete.
/// </summary>
public static class SafetensorsWriter
{
    private const int ChunkElements = 1 << 18;

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, converting float32 to <paramref name="dtype"/>.</summary>
    /// <param name="path">Destination; written to a temporary name in the same folder, then renamed over it.</param>
    /// <param name="tensors">The tensors; names must be unique.</param>
    /// <param name="dtype">F32 (exact), BF16 (round to nearest even) or F16.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings.</param>
    public static void Write(
        string path,
        IEnumerable<TensorToSave> tensors,
        SafetensorsDtype dtype = SafetensorsDtype.F32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(stream, tensors, dtype, metadata);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Writes the file's bytes to <paramref name="stream"/>, reading every tensor's chunks in file order.
    /// The order and sizes of the reads depend on the tensors' names and shapes only, so processes
    /// that write the same tensors (one into a file, the others into <see cref="Stream.Null"/>) make
    /// the same reads in the same order: sources that are collectives gather as the file is written.
    /// </summary>
    public static void WriteTo(Stream stream, IEnumerable<TensorToSave> tensors, SafetensorsDtype dtype = SafetensorsDtype.F32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!dtype.IsReadableAsFloat32())
            throw new ArgumentException($"cannot write float32 data as {dtype}; use F32, BF16 or F16", nameof(dtype));
        // One dtype for all tensors, so the reference order reduces to names compared as UTF-8 bytes.
        TensorToSave[] ordered = tensors
            .OrderBy(t => Encoding.UTF8.GetBytes(t.Name), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
            .ToArray();
        for (int i = 1; i < ordered.Length; i++)
            if (ordered[i].Name == ordered[i - 1].Name)
                throw new ArgumentException($"tensor '{ordered[i].Name}' is given more than once", nameof(tensors));

        byte[] header = BuildHeader(ordered, dtype, metadata);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        float[] chunk = new float[ChunkElements];
        byte[] converted = new byte[ChunkElements * 4];
        foreach (TensorToSave t in ordered)
            WriteData(stream, t, dtype, chunk, converted);
    }

    private static byte[] BuildHeader(TensorToSave[] tensors, SafetensorsDtype dtype, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            int bytesPerElement = dtype.BitSize() / 8;
            foreach (TensorToSave t in tensors)
            {
                foreach (long d in t.Shape)
                    if (d < 0) throw new ArgumentException($"tensor '{t.Name}': negative dimension in shape {SafetensorsTensorInfo.FormatShape(t.Shape)}");
                long end = checked(offset + t.ElementCount * bytesPerElement);
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }
        int padded = (int)((buffer.Length + 7) / 8 * 8);
        while (buffer.Length < padded) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void WriteData(Stream stream, TensorToSave t, SafetensorsDtype dtype, float[] chunk, byte[] converted)
    {
        long total = t.ElementCount;
        for (long done = 0; done < total;)
        {
            int count = (int)Math.Min(ChunkElements, total - done);
            Span<float> values = chunk.AsSpan(0, count);
            t.Source(done, values);
            switch (dtype)
            {
                case SafetensorsDtype.F32:
                    stream.Write(MemoryMarshal.AsBytes(values));
                    break;
                case SafetensorsDtype.BF16:
                    Span<ushort> bf16 = MemoryMarshal.Cast<byte, ushort>(converted.AsSpan(0, count * 2));
                    for (int i = 0; i < count; i++) bf16[i] = ToBFloat16(values[i]);
                    stream.Write(converted, 0, count * 2);
                    break;
                default:
                    Span<Half> f16 = MemoryMarshal.Cast<byte, Half>(converted.AsSpan(0, count * 2));
                    for (int i = 0; i < count; i++) f16[i] = (Half)values[i];
                    stream.Write(converted, 0, count * 2);
                    break;
            }
            done += count;
        }
    }

    /// <summary>float32 to bfloat16, rounding to nearest even; NaN stays a (quiet) NaN.</summary>
    internal static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
