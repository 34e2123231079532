using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace FastSelfReward.Text;

/// <summary>
/// Builds a byte-level BPE tokenizer from a Hugging Face tokenizer.json. Microsoft.ML.Tokenizers
/// has no tokenizer.json loader, so <c>model.vocab</c> and <c>model.merges</c> are read here into
/// <see cref="BpeOptions"/> (the maintainers' advice, dotnet/machinelearning#7286).
/// </summary>
internal static class TokenizerJsonBpe
{
    /// <summary>GPT-2's split pattern, which HF's ByteLevel pre-tokenizer applies when use_regex is on.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Tokenizer Create(string path)
    {
        using JsonDocument doc = TokenizerConfigFiles.Parse(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: expected an object with a 'model' object");
        string type = model.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
        if (type != "BPE")
            throw new InvalidDataException($"{path}: model type '{type}' is not supported; only BPE tokenizer.json files load (or provide tokenizer.model)");

        bool byteLevel = Mentions(root, "pre_tokenizer", "ByteLevel") || Mentions(root, "decoder", "ByteLevel");
        if (!byteLevel)
            throw new InvalidDataException(
                $"{path}: only byte-level BPE is supported (a Metaspace/byte-fallback BPE needs its tokenizer.model beside it)");

        if (!model.TryGetProperty("vocab", out JsonElement vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: model.vocab must be an object of token to id");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in vocabElement.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{path}: model.vocab entry '{entry.Name}' must have a non-negative integer id");
            if (!vocab.TryAdd(entry.Name, id))
                throw new InvalidDataException($"{path}: model.vocab lists '{entry.Name}' twice");
        }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out JsonElement mergesElement))
        {
            if (mergesElement.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: model.merges must be an array");
            foreach (JsonElement merge in mergesElement.EnumerateArray())
                merges.Add(MergeLine(merge, path));
        }

        string pattern = SplitPattern(root) ?? Gpt2Pattern;
        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: the pre-tokenizer pattern is not a .NET regular expression: {e.Message}");
        }
        return BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            // Without a pre-tokenizer a ByteLevel BPE silently drops whitespace (dotnet/machinelearning#7715).
            PreTokenizer = new RegexPreTokenizer(regex, null),
        });
    }

    // Older files spell a merge "a b", newer ones ["a", "b"]; byte-level tokens never contain a space.
    private static string MergeLine(JsonElement merge, string path)
    {
        if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ').Length == 2) return merge.GetString()!;
        if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
            && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            return merge[0].GetString() + " " + merge[1].GetString();
        throw new InvalidDataException($"{path}: model.merges entry {merge.GetRawText()} is not a pair of tokens");
    }

    private static bool Mentions(JsonElement root, string section, string typeName)
    {
        if (!root.TryGetProperty(section, out JsonElement node)) return false;
        return Walk(node).Any(e => e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == typeName);
    }

    // A Split pre-tokenizer with a regex (Llama 3, GPT-4 style) replaces GPT-2's pattern.
    private static string? SplitPattern(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre)) return null;
        foreach (JsonElement e in Walk(pre))
            if (e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == "Split"
                && e.TryGetProperty("pattern", out JsonElement p) && p.ValueKind == JsonValueKind.Object
                && p.TryGetProperty("Regex", out JsonElement r) && r.ValueKind == JsonValueKind.String)
                return r.GetString();
        return null;
    }

    private static IEnumerable<JsonElement> Walk(JsonElement node)
    {
        if (node.ValueKind != JsonValueKind.Object) yield break;
        yield return node;
        foreach (string key in new[] { "pretokenizers", "decoders" })
            if (node.TryGetProperty(key, out JsonElement children) && children.ValueKind == JsonValueKind.Array)
                foreach (JsonElement child in children.EnumerateArray())
                    foreach (JsonElement e in Walk(child))
                        yield return e;
    }
}
