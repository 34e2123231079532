using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastSelfReward.Data;

/// <summary>
/// A model's answers in AlpacaEval's model-outputs format: one JSON array of
/// <c>{"instruction", "output", "generator"}</c> objects, in prompt order, each with the
/// <c>dataset</c> of its prompt when the prompt file names one (AlpacaEval's own set does, and its
/// annotations keep it).
/// </summary>
public static class AlpacaEvalExport
{
    /// <summary>Writes the array to a temporary name beside <paramref name="path"/>, then renames it into place.</summary>
    public static void Write(string path, IReadOnlyList<PromptEntry> instructions, IReadOnlyList<string> outputs, string generator)
    {
        if (instructions.Count != outputs.Count) throw new ArgumentException($"{instructions.Count} instructions but {outputs.Count} outputs");
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            json.WriteStartArray();
            for (int i = 0; i < instructions.Count; i++)
            {
                json.WriteStartObject();
                json.WriteString("instruction", instructions[i].Prompt);
                json.WriteString("output", outputs[i]);
                json.WriteString("generator", generator);
                if (instructions[i].Dataset is { } dataset) json.WriteString("dataset", dataset);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        });
    }
}
