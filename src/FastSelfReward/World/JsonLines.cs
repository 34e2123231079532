using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastSelfReward.World;

/// <summary>
/// Writes a JSONL file (one object per line, "\n" endings, UTF-8 without BOM) under a temporary name
/// and renames it into place, so a reader never sees half a file. Objects are written field by field
/// rather than by reflection, which keeps this usable in a trimmed build.
/// </summary>
internal static class JsonLines
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Write<T>(string path, IEnumerable<T> records, Action<Utf8JsonWriter, T> writeFields)
    {
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            foreach (T record in records)
            {
                using (var writer = new Utf8JsonWriter(stream, Options))
                {
                    writer.WriteStartObject();
                    writeFields(writer, record);
                    writer.WriteEndObject();
                }
                stream.WriteByte((byte)'\n');
            }
        }
        File.Move(temporary, path, overwrite: true);
    }
}
