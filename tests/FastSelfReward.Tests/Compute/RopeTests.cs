using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class RopeTests
{
    private const int Rows = 5, Heads = 3, HeadDim = 8;
    private const double Theta = 10000;
    // Large positions make an angle computed in low precision visibly wrong.
    private static readonly int[] Positions = [0, 1, 7, 513, 4095];

    [Theory]
    [InlineData(DType.F32, 2e-6)]
    [InlineData(DType.F64, 1e-12)]
    public void ForwardMatchesRotateHalf(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        double[] x = new Random(5).Uniform(Rows * Heads * HeadDim);
        using DeviceBuffer tx = kernels.Floats(x), positions = kernels.Ints(Positions), frequencies = Table(kernels, Theta);
        x = kernels.Read(tx);
        kernels.RopeForward(tx, positions, frequencies, Rows, Heads, HeadDim);
        KernelBuffers.AssertClose(RotateHalf(x, i => Math.Pow(Theta, -2.0 * i / HeadDim)), kernels.Read(tx), tolerance, "x");
    }

    [Fact]
    public void BackwardUndoesForward()
    {
        var kernels = new CpuKernels(DType.F64);
        double[] x = new Random(6).Uniform(Rows * Heads * HeadDim);
        using DeviceBuffer tx = kernels.Floats(x), positions = kernels.Ints(Positions), frequencies = Table(kernels, Theta);
        kernels.RopeForward(tx, positions, frequencies, Rows, Heads, HeadDim);
        kernels.RopeBackward(tx, positions, frequencies, Rows, Heads, HeadDim);
        KernelBuffers.AssertClose(x, kernels.Read(tx), 1e-14, "x");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(7);
        double[] x = random.Uniform(Rows * Heads * HeadDim), cotangent = random.Uniform(x.Length);
        using DeviceBuffer tx = kernels.Allocate(x.Length, DType.F64), dx = kernels.Floats(cotangent), positions = kernels.Ints(Positions),
            frequencies = Table(kernels, Theta);
        kernels.RopeBackward(dx, positions, frequencies, Rows, Heads, HeadDim);
        FiniteDifferences.Check(x, values =>
        {
            kernels.Upload(tx, values);
            kernels.RopeForward(tx, positions, frequencies, Rows, Heads, HeadDim);
            return FiniteDifferences.Dot(kernels.Read(tx), cotangent);
        }, kernels.Read(dx), "dx");
    }

    [Fact]
    public void RejectsOddHeadDim()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer x = kernels.Allocate(7, DType.F32), positions = kernels.Ints([0]), frequencies = kernels.Allocate(3, DType.F64);
        Assert.Equal("headDim", Assert.Throws<ArgumentException>(() => kernels.RopeForward(x, positions, frequencies, 1, 1, 7)).ParamName);
    }

    /// <summary>
    /// Llama 3's scaling against transformers' <c>_compute_llama3_parameters</c>, written here as it
    /// is there (masks over the whole table), on Llama 3.1 8B's settings, where the table has kept,
    /// blended and slowed frequencies; then the kernel rotates by the scaled table.
    /// </summary>
    [Fact]
    public void Llama3_scaling_matches_transformers_formula_and_the_kernel_rotates_by_it()
    {
        const double theta = 500000, factor = 8, low = 1, high = 4;
        const int dim = 128, original = 8192;
        double[] invFreq = [.. Enumerable.Range(0, dim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / dim))];
        double lowWavelen = original / low, highWavelen = original / high;
        double[] wavelen = [.. invFreq.Select(f => 2 * Math.PI / f)];
        double[] llama = [.. invFreq.Select((f, i) => wavelen[i] > lowWavelen ? f / factor : f)];
        double[] smooth = [.. wavelen.Select(w => (original / w - low) / (high - low))];
        double[] expected = [.. llama.Select((f, i) =>
            !(wavelen[i] < highWavelen) && !(wavelen[i] > lowWavelen) ? (1 - smooth[i]) * f / factor + smooth[i] * f : f)];

        var scaling = new Llama3RopeScaling(factor, low, high, original);
        double[] actual = RopeFrequencies.Of(theta, dim, scaling);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-15 * expected[i]);
        Assert.Contains(actual.Select((f, i) => f / invFreq[i]), r => r == 1);
        Assert.Contains(actual.Select((f, i) => f / invFreq[i]), r => Math.Abs(r - 1 / factor) < 1e-15);
        Assert.Contains(actual.Select((f, i) => f / invFreq[i]), r => r > 1 / factor + 1e-3 && r < 1 - 1e-3);
        Assert.Equal(RopeFrequencies.Of(theta, dim), invFreq.Select(f => f), new ToleranceComparer(1e-15));

        var kernels = new CpuKernels(DType.F64);
        var random = new Random(8);
        int[] positions = [0, 3, 9000, 131071];
        double[] x = random.Uniform(positions.Length * dim);
        using DeviceBuffer tx = kernels.Floats(x), tp = kernels.Ints(positions), table = kernels.Allocate(dim / 2, DType.F64);
        kernels.Upload(table, actual);
        kernels.RopeForward(tx, tp, table, positions.Length, 1, dim);
        var rotated = kernels.Read(tx);
        for (int row = 0; row < positions.Length; row++)
            for (int i = 0; i < dim / 2; i++)
            {
                double angle = positions[row] * expected[i], a = x[row * dim + i], b = x[row * dim + i + dim / 2];
                Assert.Equal(a * Math.Cos(angle) - b * Math.Sin(angle), rotated[row * dim + i], 1e-9);
                Assert.Equal(b * Math.Cos(angle) + a * Math.Sin(angle), rotated[row * dim + i + dim / 2], 1e-9);
            }
    }

    private static DeviceBuffer Table(CpuKernels kernels, double theta)
    {
        DeviceBuffer table = kernels.Allocate(HeadDim / 2, DType.F64);
        kernels.Upload(table, RopeFrequencies.Of(theta, HeadDim));
        return table;
    }

    private sealed class ToleranceComparer(double relative) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= relative * Math.Max(Math.Abs(a), Math.Abs(b));
        public int GetHashCode(double value) => 0;
    }

    /// <summary>Hugging Face's apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁).</summary>
    private static double[] RotateHalf(double[] x, Func<int, double> frequency)
    {
        var result = new double[x.Length];
        const int half = HeadDim / 2;
        for (int row = 0; row < Rows; row++)
            for (int h = 0; h < Heads; h++)
            {
                int o = (row * Heads + h) * HeadDim;
                for (int i = 0; i < half; i++)
                {
                    double angle = Positions[row] * frequency(i);
                    double cos = Math.Cos(angle), sin = Math.Sin(angle);
                    result[o + i] = x[o + i] * cos - x[o + i + half] * sin;
                    result[o + i + half] = x[o + i + half] * cos + x[o + i] * sin;
                }
            }
        return result;
    }
}
