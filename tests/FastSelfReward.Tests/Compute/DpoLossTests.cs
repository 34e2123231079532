using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class DpoLossTests
{
    private const int Pairs = 5;
    private const double Beta = 0.1;

    public static TheoryData<DpoLossKind, double> KindsAndSmoothing() => new()
    {
        { DpoLossKind.Sigmoid, 0 }, { DpoLossKind.Sigmoid, 0.1 },
        { DpoLossKind.Ipo, 0 },
        { DpoLossKind.Robust, 0 }, { DpoLossKind.Robust, 0.1 },
    };

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    public void SigmoidLossIsLn2WhenPolicyEqualsReference(double labelSmoothing)
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(19);
        double[] chosen = random.Uniform(Pairs, 40), rejected = random.Uniform(Pairs, 40);
        double[] loss = Run(kernels, chosen, rejected, chosen, rejected, labelSmoothing, DpoLossKind.Sigmoid).Loss;
        Assert.All(loss, l => Assert.Equal(Math.Log(2), l, 14));
    }

    [Theory]
    [InlineData(DType.F32, 1e-4)]
    [InlineData(DType.F64, 1e-12)]
    public void LossesMatchScalarFormulas(DType type, double tolerance)
    {
        foreach (DpoLossKind kind in Enum.GetValues<DpoLossKind>())
        {
            var kernels = new CpuKernels(type);
            (double[] pc, double[] pr, double[] rc, double[] rr) = Inputs(20);
            if (type == DType.F32)
                foreach (double[] values in new[] { pc, pr, rc, rr })
                    for (int i = 0; i < values.Length; i++) values[i] = (float)values[i];
            const double smoothing = 0.15;
            double[] expected = new double[Pairs];
            for (int i = 0; i < Pairs; i++)
            {
                double h = (pc[i] - rc[i]) - (pr[i] - rr[i]), x = Beta * h;
                expected[i] = kind switch
                {
                    DpoLossKind.Sigmoid => -(1 - smoothing) * LogSigmoid(x) - smoothing * LogSigmoid(-x),
                    DpoLossKind.Ipo => (h - 1 / (2 * Beta)) * (h - 1 / (2 * Beta)),
                    _ => (-(1 - smoothing) * LogSigmoid(x) + smoothing * LogSigmoid(-x)) / (1 - 2 * smoothing),
                };
            }
            KernelBuffers.AssertClose(expected, Run(kernels, pc, pr, rc, rr, smoothing, kind).Loss, tolerance, $"loss ({kind}, {type})");
        }
    }

    [Theory]
    [MemberData(nameof(KindsAndSmoothing))]
    public void GradientsMatchFiniteDifferences(DpoLossKind kind, double labelSmoothing)
    {
        var kernels = new CpuKernels(DType.F64);
        (double[] pc, double[] pr, double[] rc, double[] rr) = Inputs(21);
        double[] cotangent = new Random(22).Uniform(Pairs);
        (_, double[][] grads) = Run(kernels, pc, pr, rc, rr, labelSmoothing, kind);
        double[][] inputs = [pc, pr];
        string[] names = ["gradPolicyChosen", "gradPolicyRejected"];
        for (int input = 0; input < inputs.Length; input++)
        {
            // The kernel returns ∂lossᵢ/∂inputᵢ; the cotangent weights pairs differently, as a mean over a step would not.
            double[] analytic = grads[input].Select((g, i) => g * cotangent[i]).ToArray();
            // Gradient perturbs inputs[input] in place, which is the very array Run uploads.
            FiniteDifferences.Check(inputs[input],
                _ => FiniteDifferences.Dot(Run(kernels, pc, pr, rc, rr, labelSmoothing, kind).Loss, cotangent),
                analytic, $"{names[input]} ({kind}, ε={labelSmoothing})");
        }
    }

    [Fact]
    public void RejectsSmoothingThatMakesRobustLossUndefined()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer t = kernels.Allocate(1, DType.F32);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.DpoLoss(t, t, t, t, t, t, t, 1, Beta, 0.5, DpoLossKind.Robust));
        Assert.Equal("labelSmoothing", error.ParamName);
    }

    /// <summary>Sequence log-prob sums of realistic size; the margins h fall on both sides of 0 and of 1/(2β).</summary>
    private static (double[] Pc, double[] Pr, double[] Rc, double[] Rr) Inputs(int seed)
    {
        var random = new Random(seed);
        double[] rc = random.Uniform(Pairs, 20).Select(x => x - 40).ToArray(), rr = random.Uniform(Pairs, 20).Select(x => x - 40).ToArray();
        double[] pc = rc.Select(x => x + 15 * random.NextDouble() - 5).ToArray(), pr = rr.Select(x => x + 15 * random.NextDouble() - 10).ToArray();
        return (pc, pr, rc, rr);
    }

    private static (double[] Loss, double[][] Grads) Run(CpuKernels kernels, double[] pc, double[] pr, double[] rc, double[] rr,
        double labelSmoothing, DpoLossKind kind)
    {
        using DeviceBuffer loss = kernels.Allocate(Pairs, kernels.FloatType);
        using DeviceBuffer gpc = kernels.Filled(Pairs, double.NaN), gpr = kernels.Filled(Pairs, double.NaN);
        using DeviceBuffer tpc = kernels.Floats(pc), tpr = kernels.Floats(pr), trc = kernels.Floats(rc), trr = kernels.Floats(rr);
        kernels.DpoLoss(loss, gpc, gpr, tpc, tpr, trc, trr, Pairs, Beta, labelSmoothing, kind);
        return (kernels.Read(loss), [kernels.Read(gpc), kernels.Read(gpr)]);
    }

    private static double LogSigmoid(double x) => x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x));
}
