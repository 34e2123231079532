namespace FastSelfReward.SelfReward;

/// <summary>
/// ROUGE-L on word tokens. Tokens are the maximal runs of letters or digits (any script), lower-cased;
/// punctuation and spacing separate words. With LCS the length of the longest common subsequence of
/// the token lists a (m tokens) and b (n tokens), precision = LCS/m and recall = LCS/n, and
/// F = 2·P·R/(P+R) = 2·LCS/(m+n) (β = 1, as Self-Instruct's filter uses); F = 0 when either is empty.
/// LCS runs bit-parallel (Hyyrö's bit-vector algorithm): O(n·⌈m/64⌉) word operations.
/// </summary>
public static class RougeL
{
    /// <summary>ROUGE-L F between two texts (symmetric).</summary>
    public static double F1(string a, string b)
    {
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        int[] x = Tokenize(a, vocabulary), y = Tokenize(b, vocabulary);
        return F1(x.Length, y.Length, x.Length == 0 || y.Length == 0 ? 0 : new LcsPattern(x).Length(y));
    }

    /// <summary>The lower-cased word tokens of <paramref name="text"/>, as ROUGE-L compares them.</summary>
    public static IReadOnlyList<string> Words(string text)
    {
        var words = new List<string>();
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool word = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (word && start < 0) start = i;
            else if (!word && start >= 0)
            {
                words.Add(text[start..i].ToLowerInvariant());
                start = -1;
            }
        }
        return words;
    }

    internal static double F1(int m, int n, int lcs) => m + n == 0 ? 0 : 2.0 * lcs / (m + n);

    internal static int[] Tokenize(string text, Dictionary<string, int> vocabulary)
    {
        var words = Words(text);
        int[] ids = new int[words.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            if (!vocabulary.TryGetValue(words[i], out int id)) vocabulary[words[i]] = id = vocabulary.Count;
            ids[i] = id;
        }
        return ids;
    }

    /// <summary>One side of an LCS, preprocessed into per-token match bit masks so it can meet many others.</summary>
    internal sealed class LcsPattern
    {
        private readonly Dictionary<int, ulong[]> _masks = [];
        private readonly int _length;
        private readonly int _words;

        public LcsPattern(int[] tokens)
        {
            _length = tokens.Length;
            _words = (tokens.Length + 63) / 64;
            for (int i = 0; i < tokens.Length; i++)
            {
                if (!_masks.TryGetValue(tokens[i], out ulong[]? mask)) _masks[tokens[i]] = mask = new ulong[_words];
                mask[i >> 6] |= 1UL << (i & 63);
            }
        }

        /// <summary>LCS length with <paramref name="other"/>.</summary>
        public int Length(int[] other)
        {
            // V holds a 0 bit at each pattern position that ends a match of the LCS so far; a step is
            // V' = (V + (V & M)) | (V & ~M), the addition carrying across 64-bit words.
            Span<ulong> v = _words <= 32 ? stackalloc ulong[_words] : new ulong[_words];
            v.Fill(ulong.MaxValue);
            foreach (int token in other)
            {
                if (!_masks.TryGetValue(token, out ulong[]? mask)) continue;
                ulong carry = 0;
                for (int w = 0; w < _words; w++)
                {
                    ulong u = v[w] & mask[w];
                    ulong sum = v[w] + u;
                    ulong carried = sum + carry;
                    carry = (sum < v[w] || carried < sum) ? 1UL : 0UL;
                    v[w] = carried | (v[w] & ~mask[w]);
                }
            }
            int ones = 0;
            for (int w = 0; w < _words; w++)
            {
                int bits = Math.Min(64, _length - 64 * w);
                ulong valid = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
                ones += System.Numerics.BitOperations.PopCount(v[w] & valid);
            }
            return _length - ones;
        }
    }
}

/// <summary>
/// A growing set of texts searched for near duplicates by <see cref="RougeL"/> F. A text is compared
/// only with entries whose length allows F ≥ the threshold (F ≤ 2·min(m, n)/(m + n)), and the search
/// stops at the first hit.
/// </summary>
public sealed class RougeLIndex
{
    private readonly Dictionary<string, int> _vocabulary = new(StringComparer.Ordinal);
    private readonly List<int[]> _entries = [];

    /// <summary>How many texts were added.</summary>
    public int Count => _entries.Count;

    public void Add(string text) => _entries.Add(RougeL.Tokenize(text, _vocabulary));

    /// <summary>True when some entry has ROUGE-L F ≥ <paramref name="threshold"/> with <paramref name="text"/>.</summary>
    public bool ContainsNear(string text, double threshold)
    {
        int[] tokens = RougeL.Tokenize(text, _vocabulary);
        int m = tokens.Length;
        if (m == 0) return threshold <= 0 && _entries.Count > 0;
        var pattern = new RougeL.LcsPattern(tokens);
        foreach (int[] entry in _entries)
        {
            int n = entry.Length;
            if (RougeL.F1(m, n, Math.Min(m, n)) < threshold) continue;
            if (RougeL.F1(m, n, pattern.Length(entry)) >= threshold) return true;
        }
        return false;
    }
}
