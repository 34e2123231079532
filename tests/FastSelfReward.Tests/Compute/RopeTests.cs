using FastSelfReward.Compute;
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
        using DeviceBuffer tx = kernels.Floats(x), positions = kernels.Ints(Positions);
        x = kernels.Read(tx);
        kernels.RopeForward(tx, positions, Rows, Heads, HeadDim, Theta);
        KernelBuffers.AssertClose(RotateHalf(x), kernels.Read(tx), tolerance, "x");
    }

    [Fact]
    public void BackwardUndoesForward()
    {
        var kernels = new CpuKernels(DType.F64);
        double[] x = new Random(6).Uniform(Rows * Heads * HeadDim);
        using DeviceBuffer tx = kernels.Floats(x), positions = kernels.Ints(Positions);
        kernels.RopeForward(tx, positions, Rows, Heads, HeadDim, Theta);
        kernels.RopeBackward(tx, positions, Rows, Heads, HeadDim, Theta);
        KernelBuffers.AssertClose(x, kernels.Read(tx), 1e-14, "x");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(7);
        double[] x = random.Uniform(Rows * Heads * HeadDim), cotangent = random.Uniform(x.Length);
        using DeviceBuffer tx = kernels.Allocate(x.Length, DType.F64), dx = kernels.Floats(cotangent), positions = kernels.Ints(Positions);
        kernels.RopeBackward(dx, positions, Rows, Heads, HeadDim, Theta);
        FiniteDifferences.Check(x, values =>
        {
            kernels.Upload(tx, values);
            kernels.RopeForward(tx, positions, Rows, Heads, HeadDim, Theta);
            return FiniteDifferences.Dot(kernels.Read(tx), cotangent);
        }, kernels.Read(dx), "dx");
    }

    [Fact]
    public void RejectsOddHeadDim()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer x = kernels.Allocate(7, DType.F32), positions = kernels.Ints([0]);
        Assert.Equal("headDim", Assert.Throws<ArgumentException>(() => kernels.RopeForward(x, positions, 1, 1, 7, Theta)).ParamName);
    }

    /// <summary>Hugging Face's apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁).</summary>
    private static double[] RotateHalf(double[] x)
    {
        var result = new double[x.Length];
        const int half = HeadDim / 2;
        for (int row = 0; row < Rows; row++)
            for (int h = 0; h < Heads; h++)
            {
                int o = (row * Heads + h) * HeadDim;
                for (int i = 0; i < half; i++)
                {
                    double angle = Positions[row] * Math.Pow(Theta, -2.0 * i / HeadDim);
                    double cos = Math.Cos(angle), sin = Math.Sin(angle);
                    result[o + i] = x[o + i] * cos - x[o + i + half] * sin;
                    result[o + i + half] = x[o + i + half] * cos + x[o + i] * sin;
                }
            }
        return result;
    }
}
