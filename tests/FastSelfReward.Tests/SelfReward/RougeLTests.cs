using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class RougeLTests
{
    [Fact]
    public void FIsTwiceTheLcsOverBothLengths()
    {
        // LCS("the cat sat on the mat", "the cat on the mat") = 5 words; F = 2·5/(6+5).
        Assert.Equal(10.0 / 11, RougeL.F1("the cat sat on the mat", "the cat on the mat"), 12);
        Assert.Equal(1.0, RougeL.F1("Hello, World!", "hello world"));
        Assert.Equal(0.0, RougeL.F1("alpha beta", "gamma delta"));
        Assert.Equal(0.0, RougeL.F1("", "anything"));
        Assert.Equal(0.0, RougeL.F1("...", "!!!"));
        // Order matters: a reversed sentence shares only one word in sequence.
        Assert.Equal(2.0 * 1 / 6, RougeL.F1("one two three", "three two one"), 12);
        Assert.Equal(["größe", "straße", "日本語", "x2"], RougeL.Words("GRÖSSE? no: Größe, Straße; 日本語 x2").Skip(2));
    }

    [Theory]
    [InlineData(7, 5, 3)]
    [InlineData(64, 64, 4)]
    [InlineData(65, 40, 3)]
    [InlineData(150, 200, 5)]
    [InlineData(300, 129, 2)]
    public void BitParallelLcsMatchesDynamicProgramming(int m, int n, int alphabet)
    {
        var random = new Random(m * 1000 + n);
        for (int trial = 0; trial < 20; trial++)
        {
            int[] a = Enumerable.Range(0, m).Select(_ => random.Next(alphabet)).ToArray();
            int[] b = Enumerable.Range(0, n).Select(_ => random.Next(alphabet)).ToArray();
            Assert.Equal(ReferenceLcs(a, b), new RougeL.LcsPattern(a).Length(b));
        }
    }

    [Fact]
    public void TheIndexFindsExactlyWhatABruteForceScanFinds()
    {
        var random = new Random(5);
        string[] words = ["write", "a", "poem", "about", "the", "sea", "explain", "how", "rain", "forms", "list", "three", "facts"];
        string Sentence() => string.Join(' ', Enumerable.Range(0, random.Next(1, 12)).Select(_ => words[random.Next(words.Length)]));
        var entries = Enumerable.Range(0, 60).Select(_ => Sentence()).ToList();
        var index = new RougeLIndex();
        entries.ForEach(index.Add);
        Assert.Equal(60, index.Count);
        for (int q = 0; q < 200; q++)
        {
            string query = Sentence();
            double best = entries.Max(e => RougeL.F1(query, e));
            foreach (double threshold in (double[])[0.3, 0.5, 0.7, 0.9])
                Assert.Equal(best >= threshold, index.ContainsNear(query, threshold));
        }
    }

    private static int ReferenceLcs(int[] a, int[] b)
    {
        var table = new int[a.Length + 1, b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                table[i, j] = a[i - 1] == b[j - 1] ? table[i - 1, j - 1] + 1 : Math.Max(table[i - 1, j], table[i, j - 1]);
        return table[a.Length, b.Length];
    }
}
