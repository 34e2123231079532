using System.Text.Json;
using System.Text.Json.Nodes;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Text;

/// <summary>
/// A tiny byte-level BPE written as Hugging Face files: printable ASCII (ids 0–93, byte '!' + id),
/// 'Ġ' (space) 94, 'Ċ' (newline) 95, a few merges up to "hello" and "Ġworld", and the special
/// tokens a test asks for from ids 110 up.
/// </summary>
internal static class TokenizerFixture
{
    public const int Space = 94, Newline = 95, Hello = 99, Or = 101, SpaceWorld = 104, TwoNewlines = 105;

    public static readonly string[] Llama3Specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
    public static readonly string[] ChatMlSpecials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    public static readonly string[] Llama2Specials = ["<s>", "</s>"];

    private static readonly (string A, string B)[] Merges =
    [
        ("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("Ġwor", "l"), ("Ġworl", "d"), ("Ċ", "Ċ"),
    ];

    /// <summary>The id of each character of an ASCII string (no merges applied).</summary>
    public static int[] Chars(string text) => text.Select(c => c switch { ' ' => Space, '\n' => Newline, _ => c - '!' }).ToArray();

    public static Dictionary<string, int> Vocab()
    {
        var vocab = new Dictionary<string, int>();
        for (char c = '!'; c <= '~'; c++) vocab[c.ToString()] = c - '!';
        vocab["Ġ"] = Space;
        vocab["Ċ"] = Newline;
        foreach (var (a, b) in Merges) vocab[a + b] = vocab.Count;
        return vocab;
    }

    /// <summary>Writes tokenizer.json (+ tokenizer_config.json) with <paramref name="specials"/> as added tokens.</summary>
    public static void WriteTokenizerJson(ScratchFolder dir, string[] specials, string? bos, string? eos, bool arrayMerges = false) =>
        WriteTokenizerJson(dir.Path, specials, bos, eos, arrayMerges);

    /// <summary>The same into <paramref name="folder"/>, created when absent.</summary>
    public static void WriteTokenizerJson(string folder, string[] specials, string? bos, string? eos, bool arrayMerges = false)
    {
        Directory.CreateDirectory(folder);
        var added = new JsonArray();
        for (int i = 0; i < specials.Length; i++)
            added.Add(new JsonObject { ["id"] = 110 + i, ["content"] = specials[i], ["special"] = true });
        var vocab = new JsonObject();
        foreach (var (token, id) in Vocab()) vocab[token] = id;
        var merges = new JsonArray(Merges.Select(m => arrayMerges ? (JsonNode)new JsonArray(m.A, m.B) : JsonValue.Create(m.A + " " + m.B)).ToArray());
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), root.ToJsonString());
        var config = new JsonObject();
        if (bos is not null) config["bos_token"] = bos;
        if (eos is not null) config["eos_token"] = new JsonObject { ["content"] = eos, ["special"] = true };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString());
    }

    /// <summary>Writes GPT-2 style vocab.json + merges.txt.</summary>
    public static void WriteVocabAndMerges(ScratchFolder dir)
    {
        File.WriteAllText(dir.File("vocab.json"), JsonSerializer.Serialize(Vocab()));
        File.WriteAllLines(dir.File("merges.txt"), ["#version: 0.2", .. Merges.Select(m => m.A + " " + m.B)]);
    }
}
