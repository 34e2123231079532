namespace FastSelfReward.Text;

/// <summary>
/// The tokenizer contract the rest of FastSelfReward uses, so nothing else depends on
/// Microsoft.ML.Tokenizers' types. Special tokens are only ever emitted as ids by the caller
/// (see <see cref="ChatTemplate"/>): text that spells a special token encodes as ordinary text.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>One more than the largest id (vocabulary and special tokens together).</summary>
    int VocabSize { get; }

    /// <summary>The beginning-of-sequence id, or null when the tokenizer has none.</summary>
    int? BosId { get; }

    /// <summary>The end-of-sequence id, or null when the tokenizer has none.</summary>
    int? EosId { get; }

    /// <summary>Special (added) tokens by their text.</summary>
    IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>
    /// True when encoding a segment starts it with a word boundary by itself (SentencePiece's dummy
    /// prefix), so a segment that follows a space must not carry that space in its text.
    /// </summary>
    bool PrependsSpace { get; }

    /// <summary>Encodes text without adding BOS/EOS and without recognising special-token text.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>Decodes ids to text; special tokens are dropped unless <paramref name="skipSpecialTokens"/> is false.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true);

    /// <summary>The id of a special token, e.g. <c>&lt;|eot_id|&gt;</c>.</summary>
    bool TryGetSpecialTokenId(string token, out int id);
}
