using System.Text.Json;

namespace FastSelfReward.Reporting;

/// <summary>
/// An append-only JSONL metrics file: one JSON object per line, written whole and flushed at once,
/// so a killed run loses nothing it logged and readers can follow the file as it grows. Each record
/// is <c>{"step": n, "&lt;name&gt;": value, ..., "time": "&lt;UTC ISO 8601&gt;"}</c>; names follow the
/// ecosystem and TRL (<c>loss</c>, <c>learning_rate</c>, <c>grad_norm</c>, <c>tokens_per_s</c>, <c>rewards/chosen</c>, ...).
/// A value that is not finite is written as null, since JSON has no NaN.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly FileStream _stream;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();

    private MetricsLog(FileStream stream, TimeProvider time)
    {
        _stream = stream;
        _time = time;
    }

    /// <summary>Opens <paramref name="path"/> for appending, creating it (and its folder) when absent.</summary>
    public static MetricsLog Open(string path, TimeProvider? time = null)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        return new MetricsLog(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), time ?? TimeProvider.System);
    }

    /// <summary>Appends one record and flushes it to the file.</summary>
    public void Write(long step, IEnumerable<KeyValuePair<string, double>> values)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("step", step);
            foreach (var (name, value) in values)
            {
                if (name is "step" or "time")
                    throw new ArgumentException($"metric name '{name}' is reserved", nameof(values));
                if (double.IsFinite(value)) json.WriteNumber(name, value);
                else json.WriteNull(name);
            }
            json.WriteString("time", _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        lock (_lock)
        {
            _stream.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            _stream.Flush();
        }
    }

    public void Dispose() => _stream.Dispose();
}
