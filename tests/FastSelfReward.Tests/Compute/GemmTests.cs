using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// GEMM against a triple loop. Non-square shapes and row strides wider than the rows catch a
/// row/column-major or lda mix-up that a square, packed test would hide.
/// </summary>
public class GemmTests
{
    public static TheoryData<bool, bool, DType> TransposesAndTypes()
    {
        var data = new TheoryData<bool, bool, DType>();
        foreach (DType type in new[] { DType.F32, DType.F64 })
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    data.Add(transA, transB, type);
        return data;
    }

    [Theory]
    [MemberData(nameof(TransposesAndTypes))]
    public void MatchesTripleLoop(bool transA, bool transB, DType type)
    {
        foreach ((int m, int n, int k) in new[] { (5, 7, 3), (33, 17, 65) })
            Check(type, transA, transB, m, n, k, alpha: 1.25, beta: 0.5, fillC: null);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void BetaZeroNeverReadsC(DType type)
    {
        // BLAS semantics: with β = 0, C is output only, so NaN already there must not leak.
        foreach (bool transA in new[] { false, true })
            Check(type, transA, !transA, 6, 4, 9, alpha: 1, beta: 0, fillC: double.NaN);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void BetaOneAccumulates(DType type)
    {
        foreach (bool transB in new[] { false, true })
            Check(type, false, transB, 4, 9, 5, alpha: -0.75, beta: 1, fillC: null);
    }

    [Fact]
    public void RejectsViewsTooShortForTheShape()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer a = kernels.Allocate(6, DType.F32), b = kernels.Allocate(6, DType.F32), c = kernels.Allocate(3, DType.F32);
        var tooShort = Assert.Throws<ArgumentException>(() => kernels.Gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2));
        Assert.Contains("c:", tooShort.Message);
        var narrowStride = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.Gemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2));
        Assert.Equal("lda", narrowStride.ParamName);
        var wrongType = Assert.Throws<ArgumentException>(() => new CpuKernels(DType.F64).Gemm(false, false, 1, 1, 1, 1, a, 1, b, 1, 0, c, 1));
        Assert.Contains("a: expected F64", wrongType.Message);
    }

    private static void Check(DType type, bool transA, bool transB, int m, int n, int k, double alpha, double beta, double? fillC)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(m * 1000 + n * 10 + k);
        // Row strides wider than the rows: the gaps must be skipped on read and left alone on write.
        int aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + 3;
        int bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + 2;
        int ldc = n + 5;
        double[] a = random.Uniform(aRows * lda), b = random.Uniform(bRows * ldb);
        double[] c = fillC is double fill ? Enumerable.Repeat(fill, m * ldc).ToArray() : random.Uniform(m * ldc);
        if (type == DType.F32) // the reference sees the values the kernel sees
        {
            foreach (double[] values in new[] { a, b, c })
                for (int i = 0; i < values.Length; i++) values[i] = (float)values[i];
        }

        var expected = (double[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }

        using DeviceBuffer da = kernels.Floats(a), db = kernels.Floats(b), dc = kernels.Floats(c);
        kernels.Gemm(transA, transB, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc);
        double[] actual = kernels.Read(dc);

        double tolerance = type == DType.F32 ? 1e-5 : 1e-13;
        string name = $"C ({type}, transA={transA}, transB={transB}, {m}x{n}x{k}, beta={beta})";
        for (int i = 0; i < m; i++)
        {
            KernelBuffers.AssertClose(expected.AsSpan(i * ldc, n), actual.AsSpan(i * ldc, n), tolerance, $"{name} row {i}");
            // Stride padding is not part of C.
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                Assert.True(c[i * ldc + j].Equals(actual[i * ldc + j]), $"{name}: padding [{i}, {j}] was written");
        }
    }
}
