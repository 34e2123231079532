using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// Parses and validates a safetensors header with the checks of the reference implementation
/// (huggingface/safetensors, <c>Metadata::validate</c>): every length and offset is checked
/// against the file length before a single tensor byte is read.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>The reference reader refuses larger headers (<c>HeaderTooLarge</c>).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public sealed record Parsed(
        long DataStart,
        IReadOnlyList<SafetensorsTensorInfo> Tensors,
        IReadOnlyDictionary<string, string> Metadata);

    /// <summary>Reads the header of an open file of known length and validates it in full.</summary>
    public static Parsed Read(Microsoft.Win32.SafeHandles.SafeFileHandle file, long fileLength, string path)
    {
        if (fileLength < 8)
            throw Error(path, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(file, prefix, 0, path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderBytes)
            throw Error(path, $"header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        if ((long)n > fileLength - 8)
            throw Error(path, $"header length {n} runs past the end of the {fileLength}-byte file");
        byte[] header = new byte[(int)n];
        ReadExactly(file, header, 8, path);
        return Parse(header, fileLength, path);
    }

    /// <summary>Validates header bytes (without the 8-byte prefix) against the file length.</summary>
    public static Parsed Parse(byte[] header, long fileLength, string path)
    {
        JsonDocument doc;
        try
        {
            // Reject invalid UTF-8 explicitly: the JSON reader would otherwise let it through in strings.
            _ = new UTF8Encoding(false, true).GetCharCount(header);
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw Error(path, $"header is not valid UTF-8 JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Error(path, $"header must be a JSON object, got {doc.RootElement.ValueKind}");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(entry.Name))
                    throw Error(path, $"tensor '{entry.Name}' appears more than once in the header");
                if (entry.Name == MetadataKey)
                    ReadMetadata(entry.Value, metadata, path);
                else
                    tensors.Add(ReadTensor(entry.Name, entry.Value, path));
            }
            long dataStart = 8 + header.LongLength;
            ValidateLayout(tensors, fileLength - dataStart, path);
            return new Parsed(dataStart, tensors, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(path, $"'{MetadataKey}' must be an object of strings, got {value.ValueKind}");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(path, $"'{MetadataKey}' entry '{item.Name}' must be a string, got {item.Value.ValueKind}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Error(path, $"'{MetadataKey}' entry '{item.Name}' appears more than once");
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string name, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(path, $"tensor '{name}': entry must be an object with dtype, shape and data_offsets, got {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error(path, $"tensor '{name}': missing string field 'dtype'");
        if (!SafetensorsDtypes.TryParse(dtypeElement.GetString(), out SafetensorsDtype dtype))
            throw Error(path, $"tensor '{name}': unknown dtype '{dtypeElement.GetString()}'");
        if (!value.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error(path, $"tensor '{name}': missing array field 'shape'");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw Error(path, $"tensor '{name}': shape dimension {i} must be a non-negative integer, got {dim.GetRawText()}");
            shape[i++] = d;
        }
        if (!value.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw Error(path, $"tensor '{name}': 'data_offsets' must be an array [begin, end]");
        long begin = ReadOffset(offsets[0], name, "begin", path);
        long end = ReadOffset(offsets[1], name, "end", path);
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(JsonElement element, string name, string which, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long v) || v < 0)
            throw Error(path, $"tensor '{name}': data offset {which} must be a non-negative integer, got {element.GetRawText()}");
        return v;
    }

    /// <summary>
    /// Taken in offset order, tensors must tile the data section exactly from 0 to its end, each
    /// exactly as long as its dtype and shape say.
    /// </summary>
    private static void ValidateLayout(List<SafetensorsTensorInfo> tensors, long dataLength, string path)
    {
        var ordered = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
        long expectedBegin = 0;
        foreach (SafetensorsTensorInfo t in ordered)
        {
            if (t.Begin != expectedBegin)
                throw Error(path, t.Begin < expectedBegin
                    ? $"tensor '{t.Name}': data offsets [{t.Begin}, {t.End}] overlap the previous tensor, which ends at {expectedBegin}"
                    : $"tensor '{t.Name}': data offsets [{t.Begin}, {t.End}] leave a gap; expected it to begin at {expectedBegin}");
            if (t.End < t.Begin)
                throw Error(path, $"tensor '{t.Name}': data offsets [{t.Begin}, {t.End}] end before they begin");
            long bytes = ByteSize(t, path);
            if (t.End - t.Begin != bytes)
                throw Error(path, $"tensor '{t.Name}': {t.Dtype} {t.ShapeText} needs {bytes} bytes but data offsets [{t.Begin}, {t.End}] span {t.End - t.Begin}");
            expectedBegin = t.End;
        }
        if (expectedBegin != dataLength)
            throw Error(path, expectedBegin < dataLength
                ? $"{dataLength - expectedBegin} bytes after the last tensor (data section is {dataLength} bytes, tensors cover {expectedBegin})"
                : $"file is truncated: tensors need {expectedBegin} data bytes but only {dataLength} remain");
    }

    private static long ByteSize(SafetensorsTensorInfo t, string path)
    {
        long bits;
        try
        {
            long n = 1;
            foreach (long d in t.Shape) n = checked(n * d);
            bits = checked(n * t.Dtype.BitSize());
        }
        catch (OverflowException)
        {
            throw Error(path, $"tensor '{t.Name}': shape {t.ShapeText} has more elements than a file can hold");
        }
        if (bits % 8 != 0)
            throw Error(path, $"tensor '{t.Name}': {t.Dtype} {t.ShapeText} does not fill a whole number of bytes");
        return bits / 8;
    }

    internal static void ReadExactly(Microsoft.Win32.SafeHandles.SafeFileHandle file, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(file, buffer, offset);
            if (read <= 0)
                throw Error(path, $"unexpected end of file at byte {offset} (the file changed after it was opened?)");
            buffer = buffer[read..];
            offset += read;
        }
    }

    internal static InvalidDataException Error(string path, string message) => new($"{path}: {message}");
}
