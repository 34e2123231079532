using System.Text.Json;

namespace FastSelfReward.Text;

/// <summary>
/// What Hugging Face's side files say about special tokens: <c>added_tokens</c> in tokenizer.json,
/// <c>added_tokens_decoder</c>, <c>bos_token</c> and <c>eos_token</c> in tokenizer_config.json, and
/// special_tokens_map.json. Later files do not override earlier ids for the same text.
/// </summary>
internal sealed class TokenizerConfigFiles
{
    public Dictionary<string, int> SpecialTokens { get; } = new(StringComparer.Ordinal);

    public string? BosToken { get; private set; }

    public string? EosToken { get; private set; }

    public static TokenizerConfigFiles Read(string directory)
    {
        var result = new TokenizerConfigFiles();
        string tokenizerJson = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            using JsonDocument doc = Parse(tokenizerJson);
            if (doc.RootElement.TryGetProperty("added_tokens", out JsonElement added) && added.ValueKind == JsonValueKind.Array)
                foreach (JsonElement token in added.EnumerateArray())
                    result.AddSpecial(token, null, tokenizerJson);
        }
        string config = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(config))
        {
            using JsonDocument doc = Parse(config);
            JsonElement root = doc.RootElement;
            if (root.TryGetProperty("added_tokens_decoder", out JsonElement decoder) && decoder.ValueKind == JsonValueKind.Object)
                foreach (JsonProperty entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out int id) || id < 0)
                        throw new InvalidDataException($"{config}: added_tokens_decoder key '{entry.Name}' is not a token id");
                    result.AddSpecial(entry.Value, id, config);
                }
            result.BosToken ??= TokenText(root, "bos_token", config);
            result.EosToken ??= TokenText(root, "eos_token", config);
        }
        string map = Path.Combine(directory, "special_tokens_map.json");
        if (File.Exists(map))
        {
            using JsonDocument doc = Parse(map);
            result.BosToken ??= TokenText(doc.RootElement, "bos_token", map);
            result.EosToken ??= TokenText(doc.RootElement, "eos_token", map);
        }
        return result;
    }

    private void AddSpecial(JsonElement token, int? id, string path)
    {
        if (token.ValueKind != JsonValueKind.Object
            || !token.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}: an added token must be an object with a string 'content'");
        // Non-special added tokens are ordinary vocabulary as far as templates are concerned.
        if (token.TryGetProperty("special", out JsonElement special) && special.ValueKind == JsonValueKind.False) return;
        if (id is null)
        {
            if (!token.TryGetProperty("id", out JsonElement idElement) || !idElement.TryGetInt32(out int parsed) || parsed < 0)
                throw new InvalidDataException($"{path}: added token '{content.GetString()}' has no valid 'id'");
            id = parsed;
        }
        SpecialTokens.TryAdd(content.GetString()!, id.Value);
    }

    // bos_token/eos_token are either a string or an AddedToken object {"content": ...}.
    private static string? TokenText(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        throw new InvalidDataException($"{path}: '{key}' must be a string or an object with 'content'");
    }

    internal static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}");
        }
    }
}
