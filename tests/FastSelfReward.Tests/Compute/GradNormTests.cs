using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class GradNormTests
{
    [Theory]
    [InlineData(DType.F32, 0)]
    [InlineData(DType.F32, 37)]
    [InlineData(DType.F32, 100_003)] // beyond one thread's share: the parallel reduction
    [InlineData(DType.F64, 100_003)]
    public void SumSquaresAccumulatesInDouble(DType type, int count)
    {
        var kernels = new CpuKernels(type);
        using DeviceBuffer x = kernels.Floats(new Random(24).Uniform(count, 3));
        double expected = kernels.Read(x).Sum(value => value * value);
        // Float accumulation over 100k terms would be off by ~1e-5 relative; double order changes give ~1e-13.
        Assert.Equal(expected, kernels.SumSquares(x, count), 1e-10 * Math.Max(1, expected));
    }
}
