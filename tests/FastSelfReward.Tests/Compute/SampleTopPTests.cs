using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// Temperature / top-p sampling as docs/design.md defines it. The distribution tests draw with
/// uniforms from a seeded <see cref="Random"/> and apply Pearson's chi-square test at
/// significance 0.001: a correct kernel fails with probability 0.001 for a random seed, and
/// the fixed seeds make the outcome reproducible.
/// </summary>
public class SampleTopPTests
{
    private const int Vocab = 8, Draws = 20_000;
    private static readonly double[] Probabilities = [0.3, 0.05, 0.2, 0.15, 0.1, 0.12, 0.05, 0.03];

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void TemperatureZeroIsArgmaxWithTiesToTheLowestId(DType type)
    {
        double[][] rows = [[1, 5, 3, 5], [2, 2, 2, 2], [-1, -3, -1, -7], [0, 0, 0, 9]];
        int[] tokens = Sample(new CpuKernels(type), rows.SelectMany(r => r).ToArray(), 4, temperature: 0, topP: 1, [0.99, 0.5, 0.0, 0.3]);
        Assert.Equal([1, 0, 0, 3], tokens);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void TinyTopPIsGreedy(DType type)
    {
        const int batch = 64, vocab = 50;
        var random = new Random(26);
        double[] logits = random.Uniform(batch * vocab, 4);
        int[] tokens = Sample(new CpuKernels(type), logits, vocab, temperature: 0.7, topP: 1e-6, Uniforms(random, batch));
        for (int r = 0; r < batch; r++)
        {
            ReadOnlySpan<double> row = logits.AsSpan(r * vocab, vocab);
            Assert.Equal(row.IndexOf(row.ToArray().Max()), tokens[r]);
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void TokensOfProbabilityZeroAreNeverSampled(DType type)
    {
        // A masked logit of −∞ has probability exactly 0; it sits at id 0, where u = 0 would land
        // if "reaches u · mass" counted a zero-probability token as reaching 0.
        double[] row = [double.NegativeInfinity, 1, 0.5, double.NegativeInfinity, 2, 0, -1, double.NegativeInfinity];
        var random = new Random(27);
        double[] uniforms = [0, .. Uniforms(random, 2_000), type == DType.F32 ? 1 - Math.Pow(2, -24) : 1 - Math.Pow(2, -53)];
        double[] logits = Repeat(row, uniforms.Length);
        foreach (double topP in new[] { 1.0, 0.9 })
        {
            int[] tokens = Sample(new CpuKernels(type), logits, Vocab, temperature: 1, topP, uniforms);
            int[] impossible = tokens.Where(t => double.IsNegativeInfinity(row[t])).Distinct().ToArray();
            Assert.True(impossible.Length == 0, $"sampled tokens of probability 0 (top_p {topP}): {string.Join(",", impossible)}");
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void PicksTheFirstKeptTokenWhoseRunningSumReachesUTimesMass(DType type)
    {
        // p = (.1, .2, .3, .4): the running sums .1 .3 .6 1 bound the tokens. With top_p = 0.65 the
        // nucleus is {2, 3} (τ = .3, mass .7) and the boundary moves to u = .3/.7 = 0.428571...
        // Uniforms 1e-4 either side of each boundary pin the rule down to the rounding of p.
        double[] row = [Math.Log(0.1), Math.Log(0.2), Math.Log(0.3), Math.Log(0.4)];
        var kernels = new CpuKernels(type);
        double[] uniforms = [0, 0.0999, 0.1001, 0.2999, 0.3001, 0.5999, 0.6001, 0.9999];
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], Sample(kernels, Repeat(row, uniforms.Length), 4, 1, 1, uniforms));
        double boundary = 0.3 / 0.7;
        double[] nucleusUniforms = [0, boundary - 1e-4, boundary + 1e-4, 0.9999];
        Assert.Equal([2, 2, 3, 3], Sample(kernels, Repeat(row, nucleusUniforms.Length), 4, 1, 0.65, nucleusUniforms));
    }

    [Fact]
    public void SameUniformsGiveSameTokensWhateverTheBatch()
    {
        const int batch = 32, vocab = 50;
        var kernels = new CpuKernels();
        var random = new Random(28);
        double[] logits = random.Uniform(batch * vocab, 3), uniforms = Uniforms(random, batch);
        int[] first = Sample(kernels, logits, vocab, 0.8, 0.9, uniforms);
        Assert.Equal(first, Sample(kernels, logits, vocab, 0.8, 0.9, uniforms));
        for (int r = 0; r < batch; r += 7)
            Assert.Equal(first[r], Sample(kernels, logits.AsSpan(r * vocab, vocab).ToArray(), vocab, 0.8, 0.9, [uniforms[r]])[0]);
    }

    [Fact]
    public void FrequenciesMatchSoftmaxWithTemperature()
    {
        // p = softmax(logits / T) with logits = T · ln p recovers the table, so T is exercised too.
        const double temperature = 0.7;
        int[] counts = Draw(Probabilities.Select(p => temperature * Math.Log(p)).ToArray(), temperature, topP: 1, seed: 29);
        double chiSquare = ChiSquare(counts, Probabilities);
        Assert.True(chiSquare < 24.32, $"chi-square {chiSquare:F2} >= 24.32 (df 7, p = 0.001); counts {string.Join(",", counts)}");
    }

    [Fact]
    public void TopPFrequenciesMatchTheRenormalisedNucleus()
    {
        // Sorted: .30 .20 .15 .12 | .10 .05 .05 .03. Kept mass reaches 0.8 only once 0.10 joins (.87),
        // so τ = 0.10 and the nucleus is ids {0, 2, 3, 4, 5}.
        int[] counts = Draw(Probabilities.Select(p => Math.Log(p)).ToArray(), temperature: 1, topP: 0.8, seed: 30);
        int[] nucleus = [0, 2, 3, 4, 5];
        foreach (int id in new[] { 1, 6, 7 }) Assert.Equal(0, counts[id]);
        double mass = nucleus.Sum(id => Probabilities[id]);
        double chiSquare = ChiSquare(nucleus.Select(id => counts[id]).ToArray(), nucleus.Select(id => Probabilities[id] / mass).ToArray());
        Assert.True(chiSquare < 18.47, $"chi-square {chiSquare:F2} >= 18.47 (df 4, p = 0.001); counts {string.Join(",", counts)}");
    }

    /// <summary>Token counts over <see cref="Draws"/> rows of the same logits, one seeded uniform per row.</summary>
    private static int[] Draw(double[] rowLogits, double temperature, double topP, int seed)
    {
        double[] logits = Repeat(rowLogits, Draws);
        int[] tokens = Sample(new CpuKernels(), logits, Vocab, temperature, topP, Uniforms(new Random(seed), Draws));
        var counts = new int[Vocab];
        foreach (int t in tokens) counts[t]++;
        return counts;
    }

    private static double ChiSquare(int[] counts, double[] probabilities)
    {
        double total = counts.Sum(), chiSquare = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            double expected = total * probabilities[i];
            chiSquare += (counts[i] - expected) * (counts[i] - expected) / expected;
        }
        return chiSquare;
    }

    /// <summary>A batch of <paramref name="rows"/> copies of one row of logits.</summary>
    private static double[] Repeat(double[] row, int rows) => Enumerable.Repeat(row, rows).SelectMany(r => r).ToArray();

    /// <summary>Uniforms in [0, 1) that stay below 1 when rounded to float.</summary>
    private static double[] Uniforms(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => Math.Min(random.NextDouble(), 1 - Math.Pow(2, -24))).ToArray();

    private static int[] Sample(CpuKernels kernels, double[] logits, int vocab, double temperature, double topP, double[] uniforms)
    {
        int batch = uniforms.Length;
        using DeviceBuffer tokens = kernels.Allocate(batch, DType.I32), probs = kernels.Allocate(logits.Length, kernels.FloatType);
        using DeviceBuffer tl = kernels.Floats(logits), tu = kernels.Floats(uniforms);
        kernels.SampleTopP(tokens, probs, tl, tu, batch, vocab, temperature, topP);
        return kernels.ReadInts(tokens);
    }
}
