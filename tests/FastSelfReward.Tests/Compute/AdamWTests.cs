using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class AdamWTests
{
    [Theory]
    [InlineData(DType.F32, 37, 1e-6)]
    [InlineData(DType.F64, 37, 1e-14)]
    [InlineData(DType.F32, 40_001, 1e-6)] // beyond one thread's share: the parallel path
    public void ThreeStepsMatchScalarReference(DType type, int count, double tolerance)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(23);
        double[] param = random.Uniform(count);
        using DeviceBuffer tp = kernels.Floats(param), tg = kernels.Allocate(count, type), m = kernels.Allocate(count, type), v = kernels.Allocate(count, type);
        param = kernels.Read(tp);
        double[] expectedM = new double[count], expectedV = new double[count];

        for (long step = 1; step <= 3; step++)
        {
            var hyper = new AdamWStep(LearningRate: 1e-2, Beta1: 0.9, Beta2: 0.95, Epsilon: 1e-8, WeightDecay: 0.1, GradScale: 0.5, Step: step);
            kernels.Upload(tg, random.Uniform(count, 3));
            double[] grad = kernels.Read(tg);
            kernels.AdamW(tp, tg, m, v, count, hyper);

            for (int i = 0; i < count; i++)
            {
                double g = grad[i] * hyper.GradScale;
                expectedM[i] = hyper.Beta1 * expectedM[i] + (1 - hyper.Beta1) * g;
                expectedV[i] = hyper.Beta2 * expectedV[i] + (1 - hyper.Beta2) * g * g;
                double mHat = expectedM[i] / (1 - Math.Pow(hyper.Beta1, step)), vHat = expectedV[i] / (1 - Math.Pow(hyper.Beta2, step));
                param[i] -= hyper.LearningRate * (mHat / (Math.Sqrt(vHat) + hyper.Epsilon) + hyper.WeightDecay * param[i]);
            }
            KernelBuffers.AssertClose(expectedM, kernels.Read(m), tolerance, $"m after step {step}");
            KernelBuffers.AssertClose(expectedV, kernels.Read(v), tolerance, $"v after step {step}");
            KernelBuffers.AssertClose(param, kernels.Read(tp), tolerance, $"param after step {step}");
            param = kernels.Read(tp); // the reference continues from the stored values, as the kernel does
        }
    }

    [Fact]
    public void RejectsStepZero()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer t = kernels.Allocate(1, DType.F32);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.AdamW(t, t, t, t, 1, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0, 1, 0)));
        Assert.Equal("step", error.ParamName);
    }
}
