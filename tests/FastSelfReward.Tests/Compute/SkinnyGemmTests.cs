using FastSelfReward.Compute;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// CpuKernels.Gemm against a triple loop in double, on the shapes that pick each native path:
/// few rows times a transposed B (the decode dot-product kernel, M ≤ 4) and the BLAS or blocked
/// GEMM otherwise; K not a multiple of the vector width, row strides wider than the rows, β = 0
/// over garbage and β ≠ 0.
/// </summary>
public sealed class SkinnyGemmTests
{
    [Theory]
    [InlineData(1, 37, 53, false, true)]
    [InlineData(3, 70, 129, false, true)]
    [InlineData(4, 33, 512, false, true)]
    [InlineData(5, 33, 40, false, true)]
    [InlineData(5, 21, 17, false, false)]
    [InlineData(4, 19, 23, true, true)]
    [InlineData(40, 31, 45, true, false)]
    public void MatchesATripleLoop(int m, int n, int k, bool transA, bool transB)
    {
        using var kernels = new CpuKernels(DType.F32);
        var random = new Random(m * 1000 + n);
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        float[] a = Random(random, aRows * lda), b = Random(random, bRows * ldb), c0 = Random(random, m * ldc);
        foreach (var (alpha, beta) in new[] { (1.0, 0.0), (0.5, 1.0), (-2.0, 0.25) })
        {
            using var da = kernels.Allocate(a.Length, DType.F32);
            using var db = kernels.Allocate(b.Length, DType.F32);
            using var dc = kernels.Allocate(c0.Length, DType.F32);
            kernels.Upload(da, a);
            kernels.Upload(db, b);
            var start = (float[])c0.Clone();
            if (beta == 0) Array.Fill(start, float.NaN);
            kernels.Upload(dc, start);
            kernels.Gemm(transA, transB, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc);
            var c = new float[c0.Length];
            kernels.Download(dc, c);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    for (int p = 0; p < k; p++)
                        sum += (double)a[transA ? p * lda + i : i * lda + p] * b[transB ? j * ldb + p : p * ldb + j];
                    double expected = alpha * sum + (beta == 0 ? 0 : beta * c0[i * ldc + j]);
                    Assert.True(Math.Abs(c[i * ldc + j] - expected) <= 1e-4 * (1 + Math.Abs(expected)),
                        $"C[{i},{j}] = {c[i * ldc + j]}, expected {expected} (alpha {alpha}, beta {beta})");
                }
            for (int i = 0; i < m; i++)
                for (int j = n; j < ldc; j++)
                    Assert.Equal(start[i * ldc + j], c[i * ldc + j]);
        }
    }

    private static float[] Random(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }
}
