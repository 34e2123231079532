using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class SwiGluTests
{
    // Not a multiple of any SIMD width; gates up to ±8 reach both saturated ends of the sigmoid.
    private const int Count = 37;

    [Theory]
    [InlineData(DType.F32, 1e-6)]
    [InlineData(DType.F64, 1e-14)]
    public void ForwardMatchesDefinition(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(13);
        using DeviceBuffer gate = kernels.Floats(random.Uniform(Count, 8)), up = kernels.Floats(random.Uniform(Count, 2));
        using DeviceBuffer output = kernels.Allocate(Count, type);
        kernels.SwiGluForward(output, gate, up, Count);
        double[] g = kernels.Read(gate), u = kernels.Read(up);
        double[] expected = g.Select((x, i) => x / (1 + Math.Exp(-x)) * u[i]).ToArray();
        KernelBuffers.AssertClose(expected, kernels.Read(output), tolerance, "output");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(14);
        double[] gate = random.Uniform(Count, 6), up = random.Uniform(Count, 2), cotangent = random.Uniform(Count);
        using DeviceBuffer tg = kernels.Floats(gate), tu = kernels.Floats(up), dOutput = kernels.Floats(cotangent), output = kernels.Allocate(Count, DType.F64);
        using DeviceBuffer dGate = kernels.Filled(Count, double.NaN), dUp = kernels.Filled(Count, double.NaN);
        kernels.SwiGluBackward(dGate, dUp, dOutput, tg, tu, Count);

        double Loss()
        {
            kernels.SwiGluForward(output, tg, tu, Count);
            return FiniteDifferences.Dot(kernels.Read(output), cotangent);
        }
        FiniteDifferences.Check(gate, values => { kernels.Upload(tg, values); return Loss(); }, kernels.Read(dGate), "dGate");
        kernels.Upload(tg, gate);
        FiniteDifferences.Check(up, values => { kernels.Upload(tu, values); return Loss(); }, kernels.Read(dUp), "dUp");
    }
}
