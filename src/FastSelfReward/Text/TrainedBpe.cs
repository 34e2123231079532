using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastSelfReward.Text;

/// <summary>The result of <see cref="BpeTrainer.Train"/>: tokens by id, merges by rank, and the special tokens.</summary>
public sealed class TrainedBpe
{
    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal TrainedBpe(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<string> specialTokens, string? bosToken, string? eosToken)
    {
        Tokens = tokens;
        Merges = merges;
        SpecialTokens = specialTokens;
        BosToken = bosToken;
        EosToken = eosToken;
    }

    /// <summary>Byte and merged tokens by id (GPT-2's byte-level spelling); special tokens follow them.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>The merges, most frequent first (their rank is their index).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    /// <summary>Special tokens; token <c>SpecialTokens[i]</c> has id <c>Tokens.Count + i</c>.</summary>
    public IReadOnlyList<string> SpecialTokens { get; }

    /// <summary>The BOS token, or null.</summary>
    public string? BosToken { get; }

    /// <summary>The EOS token, or null.</summary>
    public string? EosToken { get; }

    /// <summary>All ids: tokens and special tokens.</summary>
    public int VocabSize => Tokens.Count + SpecialTokens.Count;

    /// <summary>
    /// Writes vocab.json (special tokens included, as GPT-2 lists its end-of-text token), merges.txt
    /// and tokenizer_config.json (special tokens as added_tokens_decoder, BOS and EOS), each to a
    /// temporary name renamed into place. <see cref="TextTokenizer.Load"/> reads the folder back.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        Data.AtomicFile.Write(Path.Combine(directory, "vocab.json"), stream =>
        {
            using var w = new Utf8JsonWriter(stream, JsonOptions);
            w.WriteStartObject();
            for (int id = 0; id < Tokens.Count; id++) w.WriteNumber(Tokens[id], id);
            for (int i = 0; i < SpecialTokens.Count; i++) w.WriteNumber(SpecialTokens[i], Tokens.Count + i);
            w.WriteEndObject();
        });
        Data.AtomicFile.Write(Path.Combine(directory, "merges.txt"), stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };
            writer.WriteLine("#version: 0.2");
            foreach (var (left, right) in Merges) writer.WriteLine(left + " " + right);
        });
        Data.AtomicFile.Write(Path.Combine(directory, "tokenizer_config.json"), stream =>
        {
            using var w = new Utf8JsonWriter(stream, JsonOptions);
            w.WriteStartObject();
            w.WriteString("tokenizer_class", "GPT2Tokenizer");
            w.WriteBoolean("add_prefix_space", false);
            w.WriteStartObject("added_tokens_decoder");
            for (int i = 0; i < SpecialTokens.Count; i++)
            {
                w.WriteStartObject((Tokens.Count + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", SpecialTokens[i]);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            if (BosToken is null) w.WriteNull("bos_token");
            else w.WriteString("bos_token", BosToken);
            if (EosToken is null) w.WriteNull("eos_token");
            else w.WriteString("eos_token", EosToken);
            w.WriteEndObject();
        });
    }
}
