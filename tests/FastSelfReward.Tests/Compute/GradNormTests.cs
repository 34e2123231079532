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

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void ScaleMultipliesEveryElementAndNoOther(DType type)
    {
        const int count = 40_001;
        var kernels = new CpuKernels(type);
        double[] values = new Random(25).Uniform(count + 1);
        using DeviceBuffer x = kernels.Floats(values);
        values = kernels.Read(x);
        kernels.Scale(x, 0.3, count);
        double[] actual = kernels.Read(x);
        for (int i = 0; i < count; i++)
            Assert.Equal(type == DType.F32 ? (float)(values[i] * 0.3) : values[i] * 0.3, actual[i], 2.5e-7 * Math.Abs(values[i])); // one float rounding apart at most
        Assert.Equal(values[count], actual[count]);
    }
}
