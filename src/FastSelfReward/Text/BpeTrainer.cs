using System.Text;
using System.Text.RegularExpressions;

namespace FastSelfReward.Text;

/// <summary>
/// Trains a GPT-2 style byte-level BPE: text is split by GPT-2's pattern (the one
/// <see cref="TextTokenizer"/> applies to vocab.json + merges.txt), each piece becomes its UTF-8
/// bytes spelled with GPT-2's byte-to-character table, and the most frequent adjacent pair is merged
/// until the vocabulary is full. Pair counts are updated only for the words a merge touches, so a few
/// megabytes train in seconds.
/// </summary>
public static class BpeTrainer
{
    private const int ByteCount = 256;

    /// <summary>Learns merges from <paramref name="texts"/>.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent (size too small, BOS/EOS not a special token, duplicates).</exception>
    public static TrainedBpe Train(IEnumerable<string> texts, BpeTrainerOptions options)
    {
        Validate(options);
        string[] byteChars = ByteChars();
        var tokens = new List<string>(options.VocabSize);
        // GPT-2 numbers the byte tokens in the order of its table; keep that so files look familiar.
        foreach (int b in ByteTableOrder()) tokens.Add(byteChars[b]);
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) idOf[tokens[i]] = i;
        int[] byteId = new int[ByteCount];
        for (int b = 0; b < ByteCount; b++) byteId[b] = idOf[byteChars[b]];

        var (words, counts) = CountWords(texts, byteId);
        var merges = new List<(int Left, int Right)>();
        var pairCounts = new Dictionary<(int, int), long>();
        var pairWords = new Dictionary<(int, int), HashSet<int>>();
        for (int w = 0; w < words.Count; w++) AddPairs(w, +1);

        int target = options.VocabSize - options.SpecialTokens.Count;
        while (tokens.Count < target)
        {
            // Most frequent pair; ties go to the lowest ids, so training is deterministic.
            (int, int) best = default;
            long bestCount = 0;
            foreach (var (pair, count) in pairCounts)
                if (count > bestCount || count == bestCount && pair.CompareTo(best) < 0)
                    (best, bestCount) = (pair, count);
            if (bestCount < options.MinPairCount) break;

            string merged = tokens[best.Item1] + tokens[best.Item2];
            if (!idOf.TryGetValue(merged, out int mergedId))
            {
                mergedId = tokens.Count;
                tokens.Add(merged);
                idOf[merged] = mergedId;
            }
            merges.Add(best);
            foreach (int w in pairWords[best].ToArray())
            {
                AddPairs(w, -1);
                Merge(words[w], best, mergedId);
                AddPairs(w, +1);
            }
            pairCounts.Remove(best);
            pairWords.Remove(best);
        }

        return new TrainedBpe(tokens, merges.Select(m => (tokens[m.Left], tokens[m.Right])).ToList(),
            options.SpecialTokens, options.BosToken, options.EosToken);

        void AddPairs(int w, int sign)
        {
            List<int> word = words[w];
            for (int i = 0; i + 1 < word.Count; i++)
            {
                var pair = (word[i], word[i + 1]);
                long updated = pairCounts.GetValueOrDefault(pair) + sign * counts[w];
                if (updated == 0) pairCounts.Remove(pair);
                else pairCounts[pair] = updated;
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(pair, out HashSet<int>? set)) pairWords[pair] = set = [];
                    set.Add(w);
                }
            }
        }
    }

    private static void Validate(BpeTrainerOptions options)
    {
        if (options.SpecialTokens.Distinct(StringComparer.Ordinal).Count() != options.SpecialTokens.Count)
            throw new ArgumentException("special tokens must be distinct", nameof(options));
        if (options.VocabSize < ByteCount + options.SpecialTokens.Count)
            throw new ArgumentException(
                $"VocabSize {options.VocabSize} is too small: the 256 byte tokens and {options.SpecialTokens.Count} special tokens need {ByteCount + options.SpecialTokens.Count}",
                nameof(options));
        foreach (string? token in new[] { options.BosToken, options.EosToken })
            if (token is not null && !options.SpecialTokens.Contains(token))
                throw new ArgumentException($"{token} must be one of the special tokens", nameof(options));
        if (options.MinPairCount < 1) throw new ArgumentException("MinPairCount must be at least 1", nameof(options));
    }

    // Distinct pre-tokenized pieces as byte-token ids, with how often each occurs.
    private static (List<List<int>> Words, List<long> Counts) CountWords(IEnumerable<string> texts, int[] byteId)
    {
        var regex = new Regex(TokenizerJsonBpe.Gpt2Pattern, RegexOptions.Compiled);
        var pieces = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string text in texts)
            foreach (ValueMatch m in regex.EnumerateMatches(text))
            {
                ReadOnlySpan<char> piece = text.AsSpan(m.Index, m.Length);
                lookup[piece] = lookup.TryGetValue(piece, out long n) ? n + 1 : 1;
            }
        var words = new List<List<int>>(pieces.Count);
        var counts = new List<long>(pieces.Count);
        foreach (var (piece, count) in pieces.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            words.Add(Encoding.UTF8.GetBytes(piece).Select(b => byteId[b]).ToList());
            counts.Add(count);
        }
        return (words, counts);
    }

    // Replaces each non-overlapping occurrence of the pair, left to right, as BPE encoding does.
    private static void Merge(List<int> word, (int Left, int Right) pair, int mergedId)
    {
        int write = 0;
        for (int read = 0; read < word.Count; read++)
        {
            if (read + 1 < word.Count && word[read] == pair.Left && word[read + 1] == pair.Right)
            {
                word[write++] = mergedId;
                read++;
            }
            else
            {
                word[write++] = word[read];
            }
        }
        word.RemoveRange(write, word.Count - write);
    }

    // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 onwards,
    // so every byte is a visible character and no token contains a space.
    private static string[] ByteChars()
    {
        var chars = new string[ByteCount];
        int next = 0;
        for (int b = 0; b < ByteCount; b++)
            chars[b] = ((char)(IsPrintable(b) ? b : ByteCount + next++)).ToString();
        return chars;
    }

    private static IEnumerable<int> ByteTableOrder() =>
        Enumerable.Range(0, ByteCount).Where(IsPrintable).Concat(Enumerable.Range(0, ByteCount).Where(b => !IsPrintable(b)));

    private static bool IsPrintable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
}
