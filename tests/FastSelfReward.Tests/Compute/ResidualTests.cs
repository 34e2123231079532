using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class ResidualTests
{
    private const int Count = 37;

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void ForwardAddsAlsoInPlace(DType type)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(15);
        using DeviceBuffer a = kernels.Floats(random.Uniform(Count)), b = kernels.Floats(random.Uniform(Count)), output = kernels.Allocate(Count, type);
        double[] va = kernels.Read(a), vb = kernels.Read(b);
        double[] expected = va.Select((x, i) => type == DType.F32 ? (float)x + (float)vb[i] : x + vb[i]).ToArray();

        kernels.ResidualForward(output, a, b, Count);
        Assert.Equal(expected, kernels.Read(output));
        // The residual stream is updated in place: output aliases a.
        kernels.ResidualForward(a, a, b, Count);
        Assert.Equal(expected, kernels.Read(a));
    }

    [Fact]
    public void BackwardMatchesFiniteDifferencesAndAccumulates()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(16);
        double[] a = random.Uniform(Count), b = random.Uniform(Count), cotangent = random.Uniform(Count), prefill = random.Uniform(Count);
        using DeviceBuffer ta = kernels.Floats(a), tb = kernels.Floats(b), output = kernels.Allocate(Count, DType.F64);
        using DeviceBuffer source = kernels.Floats(cotangent), destination = kernels.Floats(prefill);
        kernels.ResidualBackward(destination, source, Count);
        double[] analytic = kernels.Read(destination).Select((g, i) => g - prefill[i]).ToArray();

        FiniteDifferences.Check(a, values =>
        {
            kernels.Upload(ta, values);
            kernels.ResidualForward(output, ta, tb, Count);
            return FiniteDifferences.Dot(kernels.Read(output), cotangent);
        }, analytic, "destination (+=)");
    }
}
