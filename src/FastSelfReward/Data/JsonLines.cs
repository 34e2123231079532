using System.Text.Json;

namespace FastSelfReward.Data;

/// <summary>Reads JSONL files (one JSON object per line; blank lines are skipped).</summary>
public static class JsonLines
{
    /// <summary>
    /// The string field <paramref name="field"/> of every record of <paramref name="path"/>, in file order.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// A line is not a JSON object or lacks the field as a string; the message is <c>file:line: what was expected</c>.
    /// </exception>
    public static List<string> ReadStringField(string path, string field)
    {
        var values = new List<string>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}:{lineNumber}: expected a JSON object, got {doc.RootElement.ValueKind}");
                if (!doc.RootElement.TryGetProperty(field, out JsonElement value) || value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{lineNumber}: expected a string field '{field}'");
                values.Add(value.GetString()!);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not valid JSON: {e.Message}");
            }
        }
        return values;
    }
}
