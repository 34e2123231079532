using System.Text.Json;

namespace FastSelfReward.Data;

/// <summary>One prompt of a prompt file, with the dataset AlpacaEval's files name it by (null when the file names none).</summary>
public sealed record PromptEntry(string Prompt, string? Dataset = null);

/// <summary>A prompt file's record: its prompt under either name, and its dataset.</summary>
internal sealed record PromptFileRecord : IJsonlRecord
{
    public string? Prompt { get; init; }
    public string? Instruction { get; init; }
    public string? Dataset { get; init; }

    public string? Problem() => (Prompt, Instruction) switch
    {
        (null, null) => "prompt: missing (a \"prompt\" or an \"instruction\" string is required)",
        (not null, not null) => "prompt: given twice, as \"prompt\" and as \"instruction\"; which is the prompt?",
        _ => null,
    };
}

/// <summary>
/// A file of prompts, in any of three formats, told apart by its first non-blank character:
/// <list type="bullet">
/// <item><c>[</c>: one JSON array of objects, AlpacaEval's own evaluation set (<c>alpaca_eval.json</c>):
/// each has an <c>instruction</c> (or <c>prompt</c>) string and may have a <c>dataset</c> string; other fields are ignored;</item>
/// <item><c>{</c>: JSONL, a record a line with a <c>prompt</c> (or <c>instruction</c>) string and an optional <c>dataset</c>;</item>
/// <item>anything else: plain text, one prompt a line.</item>
/// </list>
/// Blank lines are skipped.
/// </summary>
public static class PromptFile
{
    /// <summary>The largest JSON array file read (a larger set belongs in JSONL, which streams).</summary>
    public const long MaxArrayBytes = Jsonl.DefaultMaxLineBytes;

    /// <summary>The prompts' texts, in file order.</summary>
    /// <inheritdoc cref="ReadEntries"/>
    public static List<string> Read(string path) => [.. ReadEntries(path).Select(e => e.Prompt)];

    /// <summary>The prompts with their datasets, in file order.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="JsonlFormatException">A JSONL record without its prompt; the message names file and line.</exception>
    /// <exception cref="InvalidDataException">The file holds no prompt, or a JSON array that is malformed or has an entry without its prompt (named by its index).</exception>
    public static List<PromptEntry> ReadEntries(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such prompts file", path);
        string? first = File.ReadLines(path).FirstOrDefault(l => l.Trim('\uFEFF', ' ', '\t', '\r').Length > 0)?.Trim('\uFEFF', ' ', '\t', '\r');
        List<PromptEntry> prompts = first is null ? []
            : first.StartsWith('[') ? ReadArray(path)
            : first.StartsWith('{') ? [.. Jsonl.Read<PromptFileRecord>(path).Select((r, i) => Entry(r, path, $"record {i + 1}"))]
            : [.. File.ReadLines(path).Where(l => l.Trim().Length > 0).Select(l => new PromptEntry(l))];
        return prompts.Count > 0 ? prompts : throw new InvalidDataException($"{path}: no prompts");
    }

    /// <summary>A record's prompt, <c>prompt</c> or <c>instruction</c>; <paramref name="where"/> names it in the error when it has neither or both.</summary>
    private static PromptEntry Entry(PromptFileRecord record, string path, string where) =>
        record.Problem() is { } problem ? throw new InvalidDataException($"{path}: {where}.{problem}")
            : new PromptEntry(record.Prompt ?? record.Instruction!, record.Dataset);

    private static List<PromptEntry> ReadArray(string path)
    {
        long size = new FileInfo(path).Length;
        if (size > MaxArrayBytes)
            throw new InvalidDataException($"{path}: a JSON array of {size:N0} bytes, more than the {MaxArrayBytes:N0} read at once; write the prompts as JSONL, a record a line");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(JsonFields.Syntax(e).Describe(path), e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: must hold one JSON array of prompt objects");
            var prompts = new List<PromptEntry>(root.GetArrayLength());
            int index = 0;
            foreach (var item in root.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}: [{index}] must be an object with an \"instruction\", not {Kind(item)}");
                string? Text(string name)
                {
                    if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
                    return value.ValueKind == JsonValueKind.String ? value.GetString()
                        : throw new InvalidDataException($"{path}: [{index}].{name} must be a string, not {Kind(value)}");
                }
                var record = new PromptFileRecord { Prompt = Text("prompt"), Instruction = Text("instruction"), Dataset = Text("dataset") };
                prompts.Add(Entry(record, path, $"[{index}]"));
                index++;
            }
            return prompts;
        }
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"{value.GetRawText()}",
        _ => "null",
    };
}
