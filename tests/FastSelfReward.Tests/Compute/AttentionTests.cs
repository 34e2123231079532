using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// Causal grouped-query attention over a ragged batch: three sequences of different lengths,
/// one of length 1, with 4 query heads sharing 2 key/value heads.
/// </summary>
public class AttentionTests
{
    private const int HeadDim = 8;
    private static readonly AttentionShape Shape = new(Heads: 4, KvHeads: 2, HeadDim, Scale: 1 / Math.Sqrt(HeadDim));
    private static readonly int[] CuSeqlens = [0, 4, 5, 8];
    private const int Batch = 3, Rows = 8;
    private const int QCount = Rows * 4 * HeadDim, KvCount = Rows * 2 * HeadDim;

    [Theory]
    [InlineData(DType.F32, 2e-6)]
    [InlineData(DType.F64, 1e-13)]
    public void ForwardMatchesNaivePerSequence(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(8);
        using DeviceBuffer q = kernels.Floats(random.Uniform(QCount, 2)), k = kernels.Floats(random.Uniform(KvCount, 2)),
            v = kernels.Floats(random.Uniform(KvCount));
        using DeviceBuffer output = kernels.Allocate(QCount, type), lse = kernels.Allocate(Rows * Shape.Heads, type), cu = kernels.Ints(CuSeqlens);
        kernels.AttentionForward(output, lse, q, k, v, cu, Batch, Shape);

        (double[] expected, double[] expectedLse) = Naive(kernels.Read(q), kernels.Read(k), kernels.Read(v), CuSeqlens, Shape);
        KernelBuffers.AssertClose(expected, kernels.Read(output), tolerance, "output");
        KernelBuffers.AssertClose(expectedLse, kernels.Read(lse), tolerance, "lse");
    }

    [Fact]
    public void SequenceOutputIsTheSameAloneAndPacked()
    {
        var kernels = new CpuKernels();
        var random = new Random(9);
        double[] q = random.Uniform(QCount, 2), k = random.Uniform(KvCount, 2), v = random.Uniform(KvCount);
        using DeviceBuffer tq = kernels.Floats(q), tk = kernels.Floats(k), tv = kernels.Floats(v), cu = kernels.Ints(CuSeqlens);
        using DeviceBuffer packed = kernels.Allocate(QCount, DType.F32), lse = kernels.Allocate(Rows * Shape.Heads, DType.F32);
        kernels.AttentionForward(packed, lse, tq, tk, tv, cu, Batch, Shape);
        double[] packedOutput = kernels.Read(packed);

        for (int b = 0; b < Batch; b++)
        {
            int start = CuSeqlens[b], length = CuSeqlens[b + 1] - start;
            int qWidth = 4 * HeadDim, kvWidth = 2 * HeadDim;
            using DeviceBuffer aq = kernels.Floats(q.AsSpan(start * qWidth, length * qWidth)),
                ak = kernels.Floats(k.AsSpan(start * kvWidth, length * kvWidth)),
                av = kernels.Floats(v.AsSpan(start * kvWidth, length * kvWidth)), acu = kernels.Ints([0, length]);
            using DeviceBuffer alone = kernels.Allocate(length * qWidth, DType.F32), aloneLse = kernels.Allocate(length * Shape.Heads, DType.F32);
            kernels.AttentionForward(alone, aloneLse, aq, ak, av, acu, 1, Shape);
            // Bitwise: a prompt's tokens must not depend on its batch neighbours.
            Assert.Equal(packedOutput.AsSpan(start * qWidth, length * qWidth).ToArray(), kernels.Read(alone));
        }
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(10);
        double[] q = random.Uniform(QCount), k = random.Uniform(KvCount), v = random.Uniform(KvCount), cotangent = random.Uniform(QCount);
        using DeviceBuffer tq = kernels.Floats(q), tk = kernels.Floats(k), tv = kernels.Floats(v), cu = kernels.Ints(CuSeqlens);
        using DeviceBuffer output = kernels.Allocate(QCount, DType.F64), lse = kernels.Allocate(Rows * Shape.Heads, DType.F64);
        using DeviceBuffer dOutput = kernels.Floats(cotangent);
        // Activation gradients are overwritten: NaN left in them would show.
        using DeviceBuffer dq = kernels.Filled(QCount, double.NaN), dk = kernels.Filled(KvCount, double.NaN), dv = kernels.Filled(KvCount, double.NaN);

        kernels.AttentionForward(output, lse, tq, tk, tv, cu, Batch, Shape);
        kernels.AttentionBackward(dq, dk, dv, dOutput, output, lse, tq, tk, tv, cu, Batch, Shape);

        double Loss()
        {
            kernels.AttentionForward(output, lse, tq, tk, tv, cu, Batch, Shape);
            return FiniteDifferences.Dot(kernels.Read(output), cotangent);
        }
        FiniteDifferences.Check(q, values => { kernels.Upload(tq, values); return Loss(); }, kernels.Read(dq), "dq");
        kernels.Upload(tq, q);
        FiniteDifferences.Check(k, values => { kernels.Upload(tk, values); return Loss(); }, kernels.Read(dk), "dk");
        kernels.Upload(tk, k);
        FiniteDifferences.Check(v, values => { kernels.Upload(tv, values); return Loss(); }, kernels.Read(dv), "dv");
    }

    [Fact]
    public void RejectsBadRowOffsetsAndHeadGrouping()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer t = kernels.Allocate(QCount, DType.F32), lse = kernels.Allocate(Rows * 4, DType.F32);
        using DeviceBuffer decreasing = kernels.Ints([0, 4, 3, 8]), tooLong = kernels.Ints([0, 4, 5, 9]), cu = kernels.Ints(CuSeqlens);
        Assert.Equal("cuSeqlens", Assert.Throws<ArgumentException>(() => kernels.AttentionForward(t, lse, t, t, t, decreasing, Batch, Shape)).ParamName);
        Assert.Contains("output:", Assert.Throws<ArgumentException>(() => kernels.AttentionForward(t, lse, t, t, t, tooLong, Batch, Shape)).Message);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => kernels.AttentionForward(t, lse, t, t, t, cu, Batch, Shape with { KvHeads = 3 })).ParamName);
    }

    /// <summary>Per sequence, per head: softmax over the causal prefix, in double.</summary>
    private static (double[] Output, double[] Lse) Naive(double[] q, double[] k, double[] v, int[] cuSeqlens, AttentionShape shape)
    {
        int heads = (int)shape.Heads, kvHeads = (int)shape.KvHeads, hd = (int)shape.HeadDim;
        int rows = cuSeqlens[^1];
        var output = new double[rows * heads * hd];
        var lse = new double[rows * heads];
        for (int b = 0; b + 1 < cuSeqlens.Length; b++)
            for (int i = cuSeqlens[b]; i < cuSeqlens[b + 1]; i++)
                for (int h = 0; h < heads; h++)
                {
                    int kvh = h / (heads / kvHeads);
                    var scores = new List<double>();
                    for (int j = cuSeqlens[b]; j <= i; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += q[(i * heads + h) * hd + d] * k[(j * kvHeads + kvh) * hd + d];
                        scores.Add(shape.Scale * dot);
                    }
                    double max = scores.Max();
                    double logSum = max + Math.Log(scores.Sum(s => Math.Exp(s - max)));
                    lse[i * heads + h] = logSum;
                    for (int j = cuSeqlens[b]; j <= i; j++)
                    {
                        double p = Math.Exp(scores[j - cuSeqlens[b]] - logSum);
                        for (int d = 0; d < hd; d++) output[(i * heads + h) * hd + d] += p * v[(j * kvHeads + kvh) * hd + d];
                    }
                }
        return (output, lse);
    }
}
