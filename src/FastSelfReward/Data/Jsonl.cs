using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace FastSelfReward.Data;

/// <summary>What a reader does with a bad record.</summary>
public enum JsonlErrorMode
{
    /// <summary>Throw <see cref="JsonlFormatException"/> at the first bad record.</summary>
    Stop,
    /// <summary>Report the bad record, skip it and go on.</summary>
    Skip,
}

/// <summary>Where and why a record was rejected; <see cref="Line"/> is 1-based, <see cref="Field"/> a JSON path such as <c>responses[1].rank</c> when known.</summary>
public sealed record JsonlError(string File, long Line, string? Field, string Message)
{
    public override string ToString() => Field is null ? $"{File}:{Line}: {Message}" : $"{File}:{Line}: {Field}: {Message}";
}

/// <summary>A bad record met in <see cref="JsonlErrorMode.Stop"/> mode.</summary>
public sealed class JsonlFormatException(JsonlError error) : Exception(error.ToString())
{
    public JsonlError Error { get; } = error;
}

/// <summary>The records of a file, how many were skipped, and the first <see cref="Jsonl.MaxReportedErrors"/> reasons.</summary>
public sealed record JsonlReadResult<T>(IReadOnlyList<T> Records, int Skipped, IReadOnlyList<JsonlError> Errors);

/// <summary>
/// Reads and writes JSON Lines: UTF-8, one object per line, snake_case field names. The reader is
/// hostile-input safe: a line longer than the limit is rejected without being buffered, invalid
/// UTF-8 is an error (never replaced silently), a leading BOM, CRLF endings and blank lines are
/// accepted, and every non-nullable field is required. Writers never leave a half-written file
/// under the final name.
/// </summary>
public static partial class Jsonl
{
    /// <summary>The longest line read by default, in bytes.</summary>
    public const int DefaultMaxLineBytes = 64 << 20;

    /// <summary>How many errors <see cref="ReadAll{T}"/> keeps (all are counted).</summary>
    public const int MaxReportedErrors = 100;

    internal static readonly JsonSerializerOptions Options = CreateOptions(maxDepth: 64);

    internal static JsonSerializerOptions CreateOptions(int maxDepth) => new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
        MaxDepth = maxDepth,
        // Artifacts are files, not HTML: keep non-ASCII text readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Streams the records of <paramref name="path"/>; in skip mode each bad record goes to <paramref name="onSkipped"/>.</summary>
    /// <exception cref="JsonlFormatException">A bad record in <see cref="JsonlErrorMode.Stop"/> mode.</exception>
    public static IEnumerable<T> Read<T>(string path, JsonlErrorMode mode = JsonlErrorMode.Stop,
        Action<JsonlError>? onSkipped = null, int maxLineBytes = DefaultMaxLineBytes) =>
        Read<T>(path, mode, onSkipped, maxLineBytes, Options);

    /// <summary>Reads every record of <paramref name="path"/>.</summary>
    /// <exception cref="JsonlFormatException">A bad record in <see cref="JsonlErrorMode.Stop"/> mode.</exception>
    public static JsonlReadResult<T> ReadAll<T>(string path, JsonlErrorMode mode = JsonlErrorMode.Stop, int maxLineBytes = DefaultMaxLineBytes)
    {
        var errors = new List<JsonlError>();
        int skipped = 0;
        var records = Read<T>(path, mode, e => { skipped++; if (errors.Count < MaxReportedErrors) errors.Add(e); }, maxLineBytes).ToList();
        return new JsonlReadResult<T>(records, skipped, errors);
    }

    /// <summary>Writes a whole file: to a temporary name in the same folder, flushed to disk, then renamed over <paramref name="path"/>.</summary>
    public static void WriteAll<T>(string path, IEnumerable<T> records)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, stream =>
        {
            foreach (T record in records) stream.Write(Serialize(record));
        });
    }

    /// <summary>One record as its UTF-8 line, newline included.</summary>
    internal static byte[] Serialize<T>(T record)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(record, Options);
        byte[] line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }

    internal static IEnumerable<T> Read<T>(string path, JsonlErrorMode mode, Action<JsonlError>? onSkipped, int maxLineBytes, JsonSerializerOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLineBytes);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long lineNumber = 0;
        // Room for a BOM and a CR, which Parse strips before its exact length check.
        foreach (var (line, oversize) in Lines(stream, maxLineBytes + 4))
        {
            lineNumber++;
            var (record, error) = Parse<T>(line.Span, lineNumber, oversize, maxLineBytes, path, options);
            if (error is not null)
            {
                if (mode == JsonlErrorMode.Stop) throw new JsonlFormatException(error);
                onSkipped?.Invoke(error);
            }
            else if (record is not null)
            {
                yield return record;
            }
        }
    }

    // Splits at '\n'. A line over the limit is never buffered whole: it comes back empty, flagged.
    // Each line's memory is reused for the next, so the caller must be done with it before moving on.
    private static IEnumerable<(ReadOnlyMemory<byte> Line, bool Oversize)> Lines(Stream stream, int limit)
    {
        var line = new ArrayBufferWriter<byte>(1 << 12);
        byte[] chunk = new byte[1 << 16];
        bool oversize = false;
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            for (int start = 0; start < read;)
            {
                int newline = Array.IndexOf(chunk, (byte)'\n', start, read - start);
                int end = newline < 0 ? read : newline;
                if (!oversize && line.WrittenCount + (end - start) > limit) { oversize = true; line.ResetWrittenCount(); }
                if (!oversize) line.Write(chunk.AsSpan(start, end - start));
                if (newline < 0) break;
                start = end + 1;
                yield return (line.WrittenMemory, oversize);
                line.ResetWrittenCount();
                oversize = false;
            }
        }
        if (line.WrittenCount > 0 || oversize) yield return (line.WrittenMemory, oversize);
    }

    // Returns (null, null) for a blank line.
    private static (T? Record, JsonlError? Error) Parse<T>(ReadOnlySpan<byte> bytes, long lineNumber, bool oversize, int maxLineBytes, string path, JsonSerializerOptions options)
    {
        JsonlError Fail(string? field, string message) => new(path, lineNumber, field, message);
        if (oversize) return (default, Fail(null, $"line is longer than {maxLineBytes} bytes"));
        if (lineNumber == 1 && bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        if (bytes.EndsWith("\r"u8)) bytes = bytes[..^1];
        if (bytes.Length > maxLineBytes) return (default, Fail(null, $"line is longer than {maxLineBytes} bytes"));
        if (bytes.Trim(" \t\r"u8).IsEmpty) return (default, null);
        if (FirstInvalidUtf8(bytes) is int bad) return (default, Fail(null, $"invalid UTF-8 at byte {bad}"));
        try
        {
            T? record = JsonSerializer.Deserialize<T>(bytes, options);
            if (record is null) return (default, Fail(null, "expected a JSON object, got null"));
            if (record is IJsonlRecord checkable && checkable.Problem() is string problem)
            {
                int colon = problem.IndexOf(": ", StringComparison.Ordinal);
                return (default, colon < 0 ? Fail(null, problem) : Fail(problem[..colon], problem[(colon + 2)..]));
            }
            return (record, null);
        }
        catch (JsonException e)
        {
            var (field, message) = Describe(e);
            return (default, Fail(field, message));
        }
    }

    private static int? FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return null;
        char[] scratch = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            Utf8.ToUtf16(bytes, scratch, out int bytesRead, out _, replaceInvalidSequences: false);
            return bytesRead;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(scratch);
        }
    }

    // System.Text.Json's messages name CLR types and repeat the position; say what is wrong with the
    // field in the file's own terms instead, keeping its text only for syntax errors.
    private static (string? Field, string Message) Describe(JsonException e)
    {
        string? field = e.Path is null || e.Path == "$" ? null : e.Path.StartsWith("$.", StringComparison.Ordinal) ? e.Path[2..] : e.Path;
        string text = e.Message;
        int at = text.IndexOf(" Path: ", StringComparison.Ordinal);
        if (at >= 0) text = text[..at];
        if (MissingProperties().Match(text) is { Success: true } missing)
        {
            string names = missing.Groups[1].Value.Replace("'", "");
            return (field is null ? names : $"{field}.{names}", "missing");
        }
        if (text.Contains("doesn't allow null values", StringComparison.Ordinal)) return (field, "must not be null");
        if (text.StartsWith("Duplicate property", StringComparison.Ordinal)) return (field, "appears twice");
        if (text.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
            return (field, field is null ? "expected a JSON object" : "has the wrong JSON type or value");
        return (field, $"malformed JSON at byte {e.BytePositionInLine}: {text}");
    }

    [System.Text.RegularExpressions.GeneratedRegex("missing required properties including: (.+?)\\.?$")]
    private static partial System.Text.RegularExpressions.Regex MissingProperties();
}

/// <summary>
/// Appends records to a JSONL file batch by batch, each batch flushed to disk, so a killed stage
/// resumes with every completed batch. Opening repairs a torn tail: bytes after the last newline
/// (a record cut off by a kill) are truncated away.
/// </summary>
public sealed class JsonlAppender<T> : IDisposable
{
    private readonly FileStream _stream;

    private JsonlAppender(FileStream stream, long truncatedBytes)
    {
        _stream = stream;
        TruncatedBytes = truncatedBytes;
    }

    /// <summary>How many bytes of a torn last line <see cref="Open"/> removed.</summary>
    public long TruncatedBytes { get; }

    /// <summary>Opens <paramref name="path"/> for appending, creating it (and its folder) when missing.</summary>
    public static JsonlAppender<T> Open(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        try
        {
            long keep = LengthThroughLastNewline(stream);
            long truncated = stream.Length - keep;
            if (truncated > 0) stream.SetLength(keep);
            stream.Seek(0, SeekOrigin.End);
            return new JsonlAppender<T>(stream, truncated);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="batch"/> and flushes it to disk before returning.</summary>
    public void Append(IEnumerable<T> batch)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (T record in batch) buffer.Write(Jsonl.Serialize(record));
        _stream.Write(buffer.WrittenSpan);
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose() => _stream.Dispose();

    private static long LengthThroughLastNewline(FileStream stream)
    {
        byte[] block = new byte[1 << 16];
        long end = stream.Length;
        while (end > 0)
        {
            int size = (int)Math.Min(block.Length, end);
            stream.Seek(end - size, SeekOrigin.Begin);
            stream.ReadExactly(block, 0, size);
            int at = Array.LastIndexOf(block, (byte)'\n', size - 1, size);
            if (at >= 0) return end - size + at + 1;
            end -= size;
        }
        return 0;
    }
}
