using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace FastSelfReward.Text;

/// <summary>
/// A tokenizer loaded from a Hugging Face checkpoint folder through Microsoft.ML.Tokenizers, with
/// the folder's special tokens. Files are tried in this order: <c>tokenizer.model</c> (SentencePiece
/// BPE as <see cref="LlamaTokenizer"/>, or a tiktoken file under that name as Meta ships Llama 3),
/// <c>tokenizer.json</c> (byte-level BPE), <c>*.tiktoken</c>, then <c>vocab.json</c> + <c>merges.txt</c>.
/// </summary>
public sealed class TextTokenizer : ITextTokenizer
{
    /// <summary>The split pattern of cl100k_base and Llama 3, used for tiktoken files.</summary>
    private const string TiktokenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly Tokenizer _inner;
    private readonly Dictionary<string, int> _special;
    private readonly Dictionary<int, string> _specialById;

    private TextTokenizer(Tokenizer inner, string format, IReadOnlyDictionary<string, int> vocabulary, int vocabularySize,
        Dictionary<string, int> special, string? bosToken, string? eosToken, bool prependsSpace)
    {
        _inner = inner;
        Format = format;
        _special = special;
        _specialById = new Dictionary<int, string>();
        foreach (var (text, id) in special) _specialById.TryAdd(id, text);
        PrependsSpace = prependsSpace;
        BosId = Lookup(bosToken);
        EosId = Lookup(eosToken);
        int max = vocabularySize - 1;
        foreach (int id in special.Values) max = Math.Max(max, id);
        VocabSize = max + 1;

        int? Lookup(string? token) =>
            token is null ? null
            : special.TryGetValue(token, out int id) ? id
            : vocabulary.TryGetValue(token, out id) ? id
            : null;
    }

    /// <summary>Which file format was loaded: "sentencepiece", "tiktoken" or "bpe".</summary>
    public string Format { get; }

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, int> SpecialTokens => _special;

    /// <inheritdoc/>
    public bool PrependsSpace { get; }

    /// <summary>Loads the tokenizer files of a checkpoint folder.</summary>
    /// <exception cref="FileNotFoundException">The folder has no tokenizer file this project reads.</exception>
    /// <exception cref="InvalidDataException">A tokenizer file is malformed or of an unsupported kind; the message names it.</exception>
    public static TextTokenizer Load(string directory)
    {
        TokenizerConfigFiles config = TokenizerConfigFiles.Read(directory);
        var special = config.SpecialTokens;
        string? bos = config.BosToken, eos = config.EosToken;

        string sentencePiece = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(sentencePiece))
        {
            if (LooksLikeTiktoken(sentencePiece)) return Tiktoken(sentencePiece, special, bos, eos);
            LlamaTokenizer llama;
            using FileStream stream = File.OpenRead(sentencePiece);
            try
            {
                llama = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            }
            catch (Exception e) // protobuf reports a malformed model as an IOException subclass
            {
                throw new InvalidDataException($"{sentencePiece}: not a SentencePiece BPE model: {e.Message}", e);
            }
            special.TryAdd(llama.BeginningOfSentenceToken, llama.BeginningOfSentenceId);
            special.TryAdd(llama.EndOfSentenceToken, llama.EndOfSentenceId);
            return new TextTokenizer(llama, "sentencepiece", llama.Vocabulary, MaxId(llama.Vocabulary) + 1, special,
                bos ?? llama.BeginningOfSentenceToken, eos ?? llama.EndOfSentenceToken, llama.AddDummyPrefix);
        }

        string tokenizerJson = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            var bpe = (BpeTokenizer)TokenizerJsonBpe.Create(tokenizerJson);
            return new TextTokenizer(bpe, "bpe", bpe.Vocabulary, MaxId(bpe.Vocabulary) + 1, special, bos, eos, prependsSpace: false);
        }

        string? tiktoken = Directory.EnumerateFiles(directory, "*.tiktoken").Order(StringComparer.Ordinal).FirstOrDefault();
        if (tiktoken is not null) return Tiktoken(tiktoken, special, bos, eos);

        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges))
        {
            // Without merges every word would be cut into bytes: valid to the library, useless to a model trained with them.
            if (!File.ReadLines(merges).Any(line => line.Trim().Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal)))
                throw new InvalidDataException($"{merges}: no merges (an empty merges.txt would cut every word into bytes)");
            BpeTokenizer bpe;
            try
            {
                // GPT-2 style files are byte-level; the explicit pre-tokenizer keeps whitespace (dotnet/machinelearning#7715).
                bpe = BpeTokenizer.Create(new BpeOptions(vocab, merges)
                {
                    ByteLevel = true,
                    PreTokenizer = new RegexPreTokenizer(new Regex(TokenizerJsonBpe.Gpt2Pattern, RegexOptions.Compiled), null),
                });
            }
            catch (Exception e) when (e is not IOException)
            {
                throw new InvalidDataException($"{vocab} + {merges}: cannot build a BPE tokenizer: {e.Message}", e);
            }
            return new TextTokenizer(bpe, "bpe", bpe.Vocabulary, MaxId(bpe.Vocabulary) + 1, special, bos, eos, prependsSpace: false);
        }

        throw new FileNotFoundException(
            $"{directory}: no tokenizer found (expected tokenizer.model, tokenizer.json, *.tiktoken, or vocab.json with merges.txt)");
    }

    private static TextTokenizer Tiktoken(string path, Dictionary<string, int> special, string? bos, string? eos)
    {
        TiktokenTokenizer tok;
        int ranks;
        try
        {
            // The library does not expose a tiktoken vocabulary; ranks are dense, so count the lines.
            ranks = File.ReadLines(path).Count(line => line.Length > 0);
            using FileStream stream = File.OpenRead(path);
            tok = TiktokenTokenizer.Create(stream, new RegexPreTokenizer(new Regex(TiktokenPattern, RegexOptions.Compiled), null),
                normalizer: null, specialTokens: null);
        }
        catch (Exception e) when (e is not IOException)
        {
            throw new InvalidDataException($"{path}: not a tiktoken file: {e.Message}", e);
        }
        return new TextTokenizer(tok, "tiktoken", new Dictionary<string, int>(), ranks, special, bos, eos, prependsSpace: false);
    }

    private static int MaxId(IReadOnlyDictionary<string, int> vocabulary) => vocabulary.Count == 0 ? -1 : vocabulary.Values.Max();

    // A SentencePiece model is protobuf (first byte 0x0A); a tiktoken file is lines of "base64 rank".
    private static bool LooksLikeTiktoken(string path)
    {
        using var reader = new StreamReader(path, Encoding.ASCII);
        char[] head = new char[256];
        int n = reader.Read(head, 0, head.Length);
        string line = new string(head, 0, n).Split('\n')[0];
        int space = line.IndexOf(' ');
        return space > 0 && int.TryParse(line.AsSpan(space + 1).TrimEnd('\r'), out _)
            && line[..space].All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=');
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> Encode(string text) => text.Length == 0 ? [] : _inner.EncodeToIds(text);

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        // Ordinary ids are decoded in runs (so multi-byte characters split across tokens survive);
        // special ids are handled here because the library was never told about them.
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (_specialById.TryGetValue(id, out string? special))
            {
                Flush();
                if (!skipSpecialTokens) text.Append(special);
            }
            else
            {
                if (id < 0 || id >= VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary [0, {VocabSize})");
                run.Add(id);
            }
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_inner.Decode(run));
            run.Clear();
        }
    }

    /// <inheritdoc/>
    public bool TryGetSpecialTokenId(string token, out int id) => _special.TryGetValue(token, out id);
}
