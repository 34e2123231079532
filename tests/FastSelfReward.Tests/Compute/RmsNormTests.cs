using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class RmsNormTests
{
    // An odd width leaves a remainder after any SIMD width.
    private const int Rows = 4, Dim = 13;
    private const double Eps = 1e-5;

    [Theory]
    [InlineData(DType.F32, 1e-6)]
    [InlineData(DType.F64, 1e-14)]
    public void ForwardMatchesDefinition(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(3);
        double[] x = random.Uniform(Rows * Dim, 3), w = random.Uniform(Dim);
        using DeviceBuffer output = kernels.Allocate(Rows * Dim, type), rstd = kernels.Allocate(Rows, type);
        using DeviceBuffer dx = kernels.Floats(x), dw = kernels.Floats(w);
        kernels.RmsNormForward(output, rstd, dx, dw, Rows, Dim, Eps);
        x = kernels.Read(dx);
        w = kernels.Read(dw);

        var expected = new double[Rows * Dim];
        var expectedRstd = new double[Rows];
        for (int i = 0; i < Rows; i++)
        {
            double meanSquare = 0;
            for (int j = 0; j < Dim; j++) meanSquare += x[i * Dim + j] * x[i * Dim + j] / Dim;
            expectedRstd[i] = 1 / Math.Sqrt(meanSquare + Eps);
            for (int j = 0; j < Dim; j++) expected[i * Dim + j] = x[i * Dim + j] * expectedRstd[i] * w[j];
        }
        KernelBuffers.AssertClose(expected, kernels.Read(output), tolerance, "output");
        KernelBuffers.AssertClose(expectedRstd, kernels.Read(rstd), tolerance, "rstd");
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(4);
        double[] x = random.Uniform(Rows * Dim, 2), w = random.Uniform(Dim), cotangent = random.Uniform(Rows * Dim);
        double[] dwPrefill = random.Uniform(Dim);
        using DeviceBuffer output = kernels.Allocate(Rows * Dim, DType.F64), rstd = kernels.Allocate(Rows, DType.F64);
        using DeviceBuffer tx = kernels.Floats(x), tw = kernels.Floats(w), dOutput = kernels.Floats(cotangent);
        using DeviceBuffer dx = kernels.Filled(Rows * Dim, double.NaN), dw = kernels.Floats(dwPrefill);

        kernels.RmsNormForward(output, rstd, tx, tw, Rows, Dim, Eps);
        kernels.RmsNormBackward(dx, dw, dOutput, tx, tw, rstd, Rows, Dim);
        double[] analyticDw = kernels.Read(dw).Select((g, j) => g - dwPrefill[j]).ToArray();

        double Loss()
        {
            kernels.RmsNormForward(output, rstd, tx, tw, Rows, Dim, Eps);
            return FiniteDifferences.Dot(kernels.Read(output), cotangent);
        }
        // dx is an activation gradient: the NaN prefill must be overwritten, not added to.
        FiniteDifferences.Check(x, values => { kernels.Upload(tx, values); return Loss(); }, kernels.Read(dx), "dx");
        kernels.Upload(tx, x);
        FiniteDifferences.Check(w, values => { kernels.Upload(tw, values); return Loss(); }, analyticDw, "dWeight (+=)");
    }
}
