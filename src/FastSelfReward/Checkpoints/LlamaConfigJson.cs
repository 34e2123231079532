using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FastSelfReward.Model;

namespace FastSelfReward.Checkpoints;

/// <summary>
/// Reads and writes Hugging Face <c>config.json</c> for Llama-family models. Missing keys take
/// transformers' defaults; unknown keys are ignored; a key of the wrong type is an error naming it.
/// <c>rope_theta</c> is read at the top level (transformers ≤ 4) or inside <c>rope_parameters</c>
/// (transformers 5), since reading only one silently yields the default for the other. What the
/// model here could not run as written is refused rather than run wrongly: a RoPE type other than
/// the default and Llama 3's (<c>rope_scaling</c> or <c>rope_parameters</c>), an activation other
/// than SiLU, special token ids outside the vocabulary.
/// </summary>
public static class LlamaConfigJson
{
    /// <summary>The file name inside a checkpoint folder.</summary>
    public const string FileName = "config.json";

    /// <summary>Reads and validates a config.json file.</summary>
    /// <exception cref="InvalidDataException">The file is not JSON, a field has the wrong type, or the shapes are inconsistent.</exception>
    public static LlamaConfig Read(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses config.json text; <paramref name="source"/> names it in errors.</summary>
    public static LlamaConfig Parse(ReadOnlySpan<byte> utf8Json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(utf8Json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON: {e.Message}");
        }
        if (root is not JsonObject obj)
            throw new InvalidDataException($"{source}: config must be a JSON object");

        var defaults = new LlamaConfig();
        if (Present(obj, "hidden_act") is JsonNode act && !(act is JsonValue a && a.GetValueKind() == JsonValueKind.String && a.GetValue<string>() == "silu"))
            throw new InvalidDataException($"{source}: hidden_act {act.ToJsonString()} is not supported: these Llama models compute SwiGLU with SiLU (\"silu\")");
        var ropeScaling = RopeScaling(obj, source);
        double ropeTheta = defaults.RopeTheta;
        if (obj["rope_parameters"] is JsonNode ropeNode)
        {
            if (ropeNode is not JsonObject rope)
                throw Field(source, "rope_parameters", "an object", ropeNode);
            ropeTheta = GetDouble(rope, "rope_theta", source, "rope_parameters.rope_theta") ?? GetDouble(obj, "rope_theta", source) ?? ropeTheta;
        }
        else
        {
            ropeTheta = GetDouble(obj, "rope_theta", source) ?? ropeTheta;
        }

        LlamaConfig config;
        try
        {
            config = new LlamaConfig
            {
                VocabSize = GetInt(obj, "vocab_size", source) ?? defaults.VocabSize,
                HiddenSize = GetInt(obj, "hidden_size", source) ?? defaults.HiddenSize,
                IntermediateSize = GetInt(obj, "intermediate_size", source) ?? defaults.IntermediateSize,
                NumHiddenLayers = GetInt(obj, "num_hidden_layers", source) ?? defaults.NumHiddenLayers,
                NumAttentionHeads = GetInt(obj, "num_attention_heads", source) ?? defaults.NumAttentionHeads,
                NumKeyValueHeads = GetInt(obj, "num_key_value_heads", source) ?? 0,
                HeadDimOverride = GetInt(obj, "head_dim", source) ?? 0,
                RmsNormEps = GetDouble(obj, "rms_norm_eps", source) ?? defaults.RmsNormEps,
                RopeTheta = ropeTheta,
                RopeScaling = ropeScaling,
                MaxPositionEmbeddings = GetInt(obj, "max_position_embeddings", source) ?? defaults.MaxPositionEmbeddings,
                TieWordEmbeddings = GetBool(obj, "tie_word_embeddings", source) ?? defaults.TieWordEmbeddings,
                BosTokenId = GetInt(obj, "bos_token_id", source) ?? defaults.BosTokenId,
                EosTokenIds = GetIntOrList(obj, "eos_token_id", source) ?? defaults.EosTokenIds,
            };
            return config.Validate();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(source, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>Writes <paramref name="config"/> as a config.json that transformers 4 and 5 both read.</summary>
    public static void Write(LlamaConfig config, string path, string torchDtype = "float32")
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temp, ToJson(config, torchDtype), new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The config.json text for <paramref name="config"/>.</summary>
    public static string ToJson(LlamaConfig config, string torchDtype = "float32")
    {
        var obj = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_act"] = "silu",
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["vocab_size"] = config.VocabSize,
            ["hidden_size"] = config.HiddenSize,
            ["intermediate_size"] = config.IntermediateSize,
            ["num_hidden_layers"] = config.NumHiddenLayers,
            ["num_attention_heads"] = config.NumAttentionHeads,
            ["num_key_value_heads"] = config.KvHeads,
            ["head_dim"] = config.HeadDim,
            ["rms_norm_eps"] = config.RmsNormEps,
            // Both spellings: transformers 5 reads rope_parameters, older versions rope_theta.
            ["rope_theta"] = config.RopeTheta,
            ["rope_parameters"] = RopeParameters(config, withTheta: true),
            ["rope_scaling"] = config.RopeScaling is null ? null : RopeParameters(config, withTheta: false),
            ["max_position_embeddings"] = config.MaxPositionEmbeddings,
            ["tie_word_embeddings"] = config.TieWordEmbeddings,
            ["bos_token_id"] = config.BosTokenId,
            ["eos_token_id"] = config.EosTokenIds.Count == 1
                ? JsonValue.Create(config.EosTokenIds[0])
                : new JsonArray(config.EosTokenIds.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()),
            ["torch_dtype"] = torchDtype,
        };
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>
    /// Llama 3's scaling from <c>rope_parameters</c> (transformers 5) or else <c>rope_scaling</c>
    /// (transformers 4, its type under <c>rope_type</c> or the older <c>type</c>); null for plain RoPE.
    /// </summary>
    private static Llama3RopeScaling? RopeScaling(JsonObject obj, string source)
    {
        string key = Present(obj, "rope_parameters") is not null ? "rope_parameters" : "rope_scaling";
        if (Present(obj, key) is not JsonNode node) return null;
        if (node is not JsonObject rope) throw Field(source, key, "an object", node);
        JsonNode? typeNode = Present(rope, "rope_type") ?? Present(rope, "type");
        string? type = typeNode is JsonValue t && t.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : null;
        if (typeNode is not null && type is null) throw Field(source, $"{key}.rope_type", "text", typeNode);
        switch (type)
        {
            case null when key == "rope_parameters":
            case "default":
                return null;
            case "llama3":
                double Required(string field) => GetDouble(rope, field, source, $"{key}.{field}")
                    ?? throw new InvalidDataException($"{source}: {key}.{field} is missing; rope_type llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings");
                return new Llama3RopeScaling(Required("factor"), Required("low_freq_factor"), Required("high_freq_factor"),
                    GetInt(rope, "original_max_position_embeddings", source, $"{key}.original_max_position_embeddings")
                    ?? throw new InvalidDataException($"{source}: {key}.original_max_position_embeddings is missing; rope_type llama3 needs it"));
            default:
                throw new InvalidDataException($"{source}: {key}.rope_type {(type is null ? "is missing" : $"'{type}' is not supported")} " +
                                               "(supported: default, llama3); running the model with other positions would give wrong answers silently");
        }
    }

    /// <summary>The RoPE settings as transformers writes them (with rope_theta inside for transformers 5's rope_parameters).</summary>
    private static JsonObject RopeParameters(LlamaConfig config, bool withTheta)
    {
        var rope = new JsonObject { ["rope_type"] = config.RopeScaling is null ? "default" : "llama3" };
        if (withTheta) rope["rope_theta"] = config.RopeTheta;
        if (config.RopeScaling is { } s)
        {
            rope["factor"] = s.Factor;
            rope["low_freq_factor"] = s.LowFreqFactor;
            rope["high_freq_factor"] = s.HighFreqFactor;
            rope["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings;
        }
        return rope;
    }

    // A JSON null means "unset" in transformers (e.g. num_key_value_heads: null), so it reads as absent.
    private static JsonNode? Present(JsonObject obj, string key) => obj.TryGetPropertyValue(key, out JsonNode? node) ? node : null;

    private static int? GetInt(JsonObject obj, string key, string source, string? displayName = null)
    {
        JsonNode? node = Present(obj, key);
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int i)) return i;
        if (node is JsonValue d && d.GetValueKind() == JsonValueKind.Number && d.TryGetValue(out double x)
            && x == Math.Floor(x) && x is >= int.MinValue and <= int.MaxValue) return (int)x;
        throw Field(source, displayName ?? key, "an integer", node);
    }

    private static double? GetDouble(JsonObject obj, string key, string source, string? displayName = null)
    {
        JsonNode? node = Present(obj, key);
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double x)) return x;
        throw Field(source, displayName ?? key, "a number", node);
    }

    private static bool? GetBool(JsonObject obj, string key, string source)
    {
        JsonNode? node = Present(obj, key);
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw Field(source, key, "true or false", node);
    }

    private static IReadOnlyList<int>? GetIntOrList(JsonObject obj, string key, string source)
    {
        JsonNode? node = Present(obj, key);
        if (node is null) return null;
        if (node is JsonArray array)
        {
            var ids = new int[array.Count];
            for (int i = 0; i < ids.Length; i++)
            {
                if (array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int id)) ids[i] = id;
                else throw Field(source, $"{key}[{i}]", "an integer", array[i]);
            }
            return ids;
        }
        return [GetInt(obj, key, source) ?? throw Field(source, key, "an integer or a list of integers", node)];
    }

    private static InvalidDataException Field(string source, string key, string expected, JsonNode? node) =>
        new($"{source}: field '{key}' must be {expected}, got {node?.ToJsonString() ?? "null"}");
}
