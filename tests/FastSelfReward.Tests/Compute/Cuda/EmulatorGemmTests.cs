using FastSelfReward.Compute.Cuda;
using static FastSelfReward.Tests.Compute.Cuda.EmulatorTestSupport;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// The emulator's cuBLAS GEMM alone, against a triple loop written here from cuBLAS's definition
/// (column-major, element (i, j) of X at X[i + j·ldX]). Tested alone because CudaKernels calls it:
/// a row/column-major slip made identically in the shim and its caller would cancel out in the
/// parity tests. Shapes are non-square, leading dimensions larger than the rows, batches strided
/// with gaps, and C holds NaN wherever beta = 0 must keep it from being read.
/// </summary>
public sealed class EmulatorGemmTests
{
    private const int M = 5, N = 3, K = 7, Batch = 3;

    [Theory]
    [InlineData(false, false, CudaDataType.F32, CudaDataType.F32, 0.5f)]
    [InlineData(true, false, CudaDataType.F32, CudaDataType.F32, 0.5f)]
    [InlineData(false, true, CudaDataType.F32, CudaDataType.F32, 0.5f)]
    [InlineData(true, true, CudaDataType.F32, CudaDataType.F32, 0.5f)]
    [InlineData(true, false, CudaDataType.F32, CudaDataType.F32, 0f)]
    [InlineData(false, false, CudaDataType.BF16, CudaDataType.BF16, 0.5f)]
    [InlineData(true, true, CudaDataType.BF16, CudaDataType.BF16, 0f)]
    [InlineData(false, true, CudaDataType.BF16, CudaDataType.F32, 0.5f)]
    public void Strided_batched_gemm_matches_a_column_major_triple_loop(bool transA, bool transB,
        CudaDataType operandType, CudaDataType outputType, float beta)
    {
        using var device = new EmulatedCudaDevice();
        int aRows = transA ? K : M, aCols = transA ? M : K, bRows = transB ? N : K, bCols = transB ? K : N;
        int lda = aRows + 3, ldb = bRows + 2, ldc = M + 1;
        long strideA = lda * aCols + 5, strideB = ldb * bCols + 1, strideC = ldc * N + 4;
        const float alpha = 1.5f;
        var random = new Random(4);
        float[] a = RoundedTo(operandType, Sequence((int)strideA * Batch, _ => (float)(random.NextDouble() * 2 - 1)));
        float[] b = RoundedTo(operandType, Sequence((int)strideB * Batch, _ => (float)(random.NextDouble() * 2 - 1)));
        // beta = 0: C must not be read, so it is all NaN; otherwise C's padding is NaN and must stay so.
        float[] c = Sequence((int)strideC * Batch, i => beta == 0 || i % strideC % ldc >= M || i % strideC >= ldc * N
            ? float.NaN : (float)(random.NextDouble() * 2 - 1));
        c = RoundedTo(outputType, c);

        nint da = UploadAs(device, operandType, a), db = UploadAs(device, operandType, b), dc = UploadAs(device, outputType, c);
        device.GemmStridedBatched(transA, transB, M, N, K, alpha, da, operandType, lda, strideA, db, operandType, ldb, strideB,
            beta, dc, outputType, ldc, strideC, Batch);
        device.Synchronize();
        float[] result = DownloadAs(device, outputType, dc, c.Length);

        double tolerance = outputType == CudaDataType.BF16 ? 1.0 / 128 : 1e-5;
        for (int batch = 0; batch < Batch; batch++)
            for (int j = 0; j < N; j++)
                for (int i = 0; i < M; i++)
                {
                    double sum = 0;
                    for (int p = 0; p < K; p++)
                    {
                        double aip = transA ? a[batch * strideA + p + i * lda] : a[batch * strideA + i + p * lda];
                        double bpj = transB ? b[batch * strideB + j + p * ldb] : b[batch * strideB + p + j * ldb];
                        sum += aip * bpj;
                    }
                    long at = batch * strideC + i + j * ldc;
                    double expected = alpha * sum + (beta == 0 ? 0 : beta * c[at]);
                    Assert.True(Math.Abs(result[at] - expected) <= tolerance * (1 + Math.Abs(expected)),
                        $"C[{batch}]({i},{j}) = {result[at]}, expected {expected}");
                }
        for (long at = 0; at < Batch * strideC; at++)
            if (at % strideC % ldc >= M || at % strideC >= ldc * N)
                Assert.True(float.IsNaN(result[at]), $"padding of C at {at} was written");
    }

    [Fact]
    public void A_leading_dimension_smaller_than_the_rows_is_rejected()
    {
        using var device = new EmulatedCudaDevice();
        nint a = device.Allocate(1024), b = device.Allocate(1024), c = device.Allocate(1024);
        var error = Assert.Throws<CudaException>(() => device.GemmStridedBatched(false, false, M, N, K, 1, a, CudaDataType.F32, M - 1, 0,
            b, CudaDataType.F32, K, 0, 0, c, CudaDataType.F32, M, 0, 1));
        Assert.Contains("ldA", error.Message);
    }

    [Fact]
    public void Operands_outside_device_memory_are_rejected()
    {
        using var device = new EmulatedCudaDevice();
        nint a = device.Allocate(M * K * sizeof(float)), b = device.Allocate(K * N * sizeof(float)), c = device.Allocate(M * N * sizeof(float));
        var error = Assert.Throws<CudaException>(() => device.GemmStridedBatched(false, false, M, N, K, 1, a, CudaDataType.F32, M, M * K,
            b, CudaDataType.F32, K, 0, 0, c, CudaDataType.F32, M, 0, 2));
        Assert.Contains("A runs past the end", error.Message);
    }

    private static float[] RoundedTo(CudaDataType type, float[] values) =>
        type == CudaDataType.BF16 ? values.Select(v => BFloat16ToFloat(FloatToBFloat16(v))).ToArray() : values;

    private static unsafe nint UploadAs(ICudaDevice device, CudaDataType type, float[] values) =>
        type == CudaDataType.BF16 ? Upload(device, values.Select(FloatToBFloat16).ToArray()) : Upload(device, values);

    private static float[] DownloadAs(ICudaDevice device, CudaDataType type, nint address, int count) =>
        type == CudaDataType.BF16
            ? Download<ushort>(device, address, count).Select(BFloat16ToFloat).ToArray()
            : Download<float>(device, address, count);

    private static ushort FloatToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    }

    private static float BFloat16ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
