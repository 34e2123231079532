using FastSelfReward.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Data;

/// <summary>How a plain-text training file is cut into documents.</summary>
public enum DocumentSplit
{
    /// <summary>Paragraphs: documents are separated by one or more blank lines.</summary>
    BlankLines,
    /// <summary>The whole file is one token stream, cut into context-length windows.</summary>
    Windows,
}

/// <summary>
/// A language-modelling corpus from a text or JSONL file: documents are tokenized as
/// [BOS] text [EOS] (each when the tokenizer has it) and cut into examples of at most the context
/// length, every token but the first of an example counting in the loss.
/// </summary>
public static class TextCorpus
{
    /// <summary>
    /// The documents of <paramref name="path"/>: the <c>text</c> field of each record of a
    /// <c>.jsonl</c> file, otherwise the file's text cut as <paramref name="split"/> says.
    /// </summary>
    /// <exception cref="JsonlFormatException">A JSONL record lacks a string <c>text</c>; the message names the line.</exception>
    /// <exception cref="InvalidDataException">The file holds no text.</exception>
    public static List<string> ReadDocuments(string path, DocumentSplit split)
    {
        List<string> documents;
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            documents = Jsonl.Read<TextRecord>(path).Select(r => r.Text).Where(t => t.Trim().Length > 0).ToList();
        }
        else
        {
            string text = File.ReadAllText(path).ReplaceLineEndings("\n");
            documents = split == DocumentSplit.Windows
                ? [text]
                : System.Text.RegularExpressions.Regex.Split(text, @"\n[ \t]*\n").Select(d => d.Trim('\n')).ToList();
            documents.RemoveAll(d => d.Trim().Length == 0);
        }
        if (documents.Count == 0) throw new InvalidDataException($"{path}: no text to train on");
        return documents;
    }

    /// <summary>Tokenizes <paramref name="documents"/> into examples of at most <paramref name="contextLength"/> tokens.</summary>
    /// <remarks>Pieces of a single token are dropped: they predict nothing.</remarks>
    public static List<LmExample> Tokenize(IEnumerable<string> documents, ITextTokenizer tokenizer, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var examples = new List<LmExample>();
        foreach (string document in documents)
        {
            var ids = new List<int>();
            if (tokenizer.BosId is int bos) ids.Add(bos);
            ids.AddRange(tokenizer.Encode(document));
            if (tokenizer.EosId is int eos) ids.Add(eos);
            for (int start = 0; start < ids.Count; start += contextLength)
            {
                int length = Math.Min(contextLength, ids.Count - start);
                if (length >= 2) examples.Add(new LmExample(ids.GetRange(start, length).ToArray()));
            }
        }
        return examples;
    }
}
