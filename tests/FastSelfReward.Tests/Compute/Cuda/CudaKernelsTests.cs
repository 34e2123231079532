using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

using static FastSelfReward.Tests.Compute.Cuda.CudaParity;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// CudaKernels over the emulated GPU against CpuKernels, op by op, with fp32 and bf16 storage, in
/// the emulator's normal schedule and in reverse order with deferred launches (a missing barrier
/// or a missing synchronize changes the result). bf16 cases feed the CPU the bf16-rounded inputs,
/// so the tolerance covers only what the GPU path adds: fp32 instead of double accumulation and
/// the final rounding to bf16.
/// </summary>
/// <remarks>
/// Tolerances, |cuda − cpu| ≤ atol + rtol·|cpu|:
/// GEMM fp32 or bf16 operands into fp32: rtol 1e-5, atol 1e-5; into bf16: rtol 2⁻⁸.
/// Embedding forward and backward, residual, casts: exact (the same fp32 operations in the same order, then one rounding).
/// RMSNorm fp32: rtol 1e-5, atol 1e-6 (rstd, output, dx, dWeight); bf16 output and dx: rtol 2⁻⁸, atol 1e-5.
/// </remarks>
public sealed class CudaKernelsTests
{
    private const double Bf16Rtol = 1.0 / 256;

    public static TheoryData<bool> Schedules() => new() { false, true };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Gemm_matches_cpu_for_every_transpose_non_square_and_padded_leading_dimensions(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int m = 5, n = 7, k = 3, pad = 2;
        foreach (bool transA in new[] { false, true })
        foreach (bool transB in new[] { false, true })
        foreach (DType operands in new[] { DType.F32, DType.BF16 })
        foreach (DType output in new[] { DType.F32, DType.BF16 })
        {
            int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
            int lda = aCols + pad, ldb = bCols + pad + 1, ldc = n + pad;
            float[] a = Random(aRows * lda, 1), b = Random(bRows * ldb, 2), c = Random(m * ldc, 3);
            if (operands == DType.BF16) { a = RoundBf16(a); b = RoundBf16(b); }
            if (output == DType.BF16) c = RoundBf16(c);
            using DeviceBuffer ca = Put(cpu, a, DType.F32), cb = Put(cpu, b, DType.F32), cc = Put(cpu, c, DType.F32);
            using DeviceBuffer ga = Put(cuda, a, operands), gb = Put(cuda, b, operands), gc = Put(cuda, c, output);
            cpu.Gemm(transA, transB, m, n, k, 0.75, ca, lda, cb, ldb, 0.5, cc, ldc);
            cuda.Gemm(transA, transB, m, n, k, 0.75, ga, lda, gb, ldb, 0.5, gc, ldc);
            float[] expected = Get(cpu, cc);
            if (output == DType.BF16) expected = RoundBf16(expected);
            string name = $"C (transA {transA}, transB {transB}, {operands} -> {output})";
            if (output == DType.BF16) Close(expected, Get(cuda, gc), Bf16Rtol, 1e-6, name);
            else Close(expected, Get(cuda, gc), 1e-5, 1e-5, name);
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Embedding_forward_and_backward_match_cpu_exactly(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int vocab = 11, n = 9;
        int[] tokens = [3, 0, 10, 3, 7, 3, 1, 10, 5];
        // 300: fp32 rows in 16-byte packs, bf16 rows not, one column block looping; 2056: packed, several column blocks
        foreach (int dim in new[] { 300, 2056 })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            float[] table = Random(vocab * dim, 4), dOut = Random(n * dim, 5), dTable = Random(vocab * dim, 6);
            if (type == DType.BF16) { table = RoundBf16(table); dOut = RoundBf16(dOut); }
            using DeviceBuffer ct = Put(cpu, table, DType.F32), cTok = Put(cpu, tokens), cOut = cpu.Allocate(n * dim, DType.F32);
            using DeviceBuffer gt = Put(cuda, table, type), gTok = Put(cuda, tokens), gOut = cuda.Allocate(n * dim, type);
            cpu.EmbeddingForward(cOut, cTok, ct, n, dim);
            cuda.EmbeddingForward(gOut, gTok, gt, n, dim);
            Close(Get(cpu, cOut), Get(cuda, gOut), 0, 0, $"output (dim {dim}, {type})");

            using DeviceBuffer cdT = Put(cpu, dTable, DType.F32), cdO = Put(cpu, dOut, DType.F32);
            using DeviceBuffer gdT = Put(cuda, dTable, DType.F32), gdO = Put(cuda, dOut, type);
            cpu.EmbeddingBackward(cdT, cdO, cTok, n, dim);
            cuda.EmbeddingBackward(gdT, gdO, gTok, n, dim);
            Close(Get(cpu, cdT), Get(cuda, gdT), 0, 0, $"dTable (dim {dim}, {type})");
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void RmsNorm_forward_and_backward_match_cpu(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int n = 7;
        // 30: no 16-byte packs (W = 1), idle lanes; 48: packs for both types; 300: fp32 packs, bf16 not, 256 threads striding
        foreach (int dim in new[] { 30, 48, 300 })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            float[] x = Random(n * dim, 7, 3.0), w = Random(dim, 8), dOut = Random(n * dim, 9), dW = Random(dim, 10);
            if (type == DType.BF16) { x = RoundBf16(x); w = RoundBf16(w); dOut = RoundBf16(dOut); }
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-5, atol = type == DType.BF16 ? 1e-5 : 1e-6;
            string shape = $"(dim {dim}, {type})";

            using DeviceBuffer cx = Put(cpu, x, DType.F32), cw = Put(cpu, w, DType.F32), cOut = cpu.Allocate(n * dim, DType.F32),
                cr = cpu.Allocate(n, DType.F32);
            using DeviceBuffer gx = Put(cuda, x, type), gw = Put(cuda, w, type), gOut = cuda.Allocate(n * dim, type),
                gr = cuda.Allocate(n, DType.F32);
            cpu.RmsNormForward(cOut, cr, cx, cw, n, dim, 1e-5);
            cuda.RmsNormForward(gOut, gr, gx, gw, n, dim, 1e-5);
            float[] rstd = Get(cpu, cr);
            Close(rstd, Get(cuda, gr), 1e-5, 1e-6, $"rstd {shape}");
            float[] expected = Get(cpu, cOut);
            if (type == DType.BF16) expected = RoundBf16(expected);
            Close(expected, Get(cuda, gOut), rtol, atol, $"output {shape}");

            // The backward gets the same rstd on both sides, so it is compared alone.
            using DeviceBuffer cdO = Put(cpu, dOut, DType.F32), cdx = cpu.Allocate(n * dim, DType.F32), cdW = Put(cpu, dW, DType.F32);
            using DeviceBuffer gdO = Put(cuda, dOut, type), gdx = cuda.Allocate(n * dim, type), gdW = Put(cuda, dW, DType.F32);
            cuda.Upload(gr, rstd);
            cpu.RmsNormBackward(cdx, cdW, cdO, cx, cw, cr, n, dim);
            cuda.RmsNormBackward(gdx, gdW, gdO, gx, gw, gr, n, dim);
            float[] dx = Get(cpu, cdx);
            if (type == DType.BF16) dx = RoundBf16(dx);
            Close(dx, Get(cuda, gdx), rtol, atol, $"dx {shape}");
            Close(Get(cpu, cdW), Get(cuda, gdW), 1e-5, 1e-6, $"dWeight {shape}");
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Residual_forward_and_backward_match_cpu_exactly_also_in_place(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int count = 1003; // a remainder after the 16-byte packs
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            float[] a = Random(count, 11), b = Random(count, 12);
            if (type == DType.BF16) { a = RoundBf16(a); b = RoundBf16(b); }
            float[] Expected(float[] values) => type == DType.BF16 ? RoundBf16(values) : values;

            using DeviceBuffer ca = Put(cpu, a, DType.F32), cb = Put(cpu, b, DType.F32), cOut = cpu.Allocate(count, DType.F32);
            using DeviceBuffer ga = Put(cuda, a, type), gb = Put(cuda, b, type), gOut = cuda.Allocate(count, type);
            cpu.ResidualForward(cOut, ca, cb, count);
            cuda.ResidualForward(gOut, ga, gb, count);
            Close(Expected(Get(cpu, cOut)), Get(cuda, gOut), 0, 0, $"output ({type})");

            cuda.ResidualForward(ga, ga, gb, count); // out aliases a
            Close(Expected(Get(cpu, cOut)), Get(cuda, ga), 0, 0, $"in-place output ({type})");

            cpu.ResidualBackward(cb, cOut, count);
            cuda.ResidualBackward(gb, gOut, count);
            float[] expectedGradient = type == DType.BF16
                ? RoundBf16(b.Zip(Get(cuda, gOut), (x, y) => x + y).ToArray())
                : Get(cpu, cb);
            Close(expectedGradient, Get(cuda, gb), 0, 0, $"destination += source ({type})");
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Elementwise_ops_on_unaligned_slices_take_the_scalar_path(bool reverse)
    {
        using var cuda = EmulatedGpu(reverse);
        const int count = 37;
        float[] a = RoundBf16(Random(count + 1, 14)), b = RoundBf16(Random(count + 1, 15));
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            using DeviceBuffer ga = Put(cuda, a, type), gb = Put(cuda, b, type), gOut = cuda.Allocate(count + 1, type);
            cuda.ResidualForward(gOut.Slice(1, count), ga.Slice(1, count), gb.Slice(0, count), count);
            float[] expected = Enumerable.Range(0, count).Select(i => a[i + 1] + b[i]).ToArray();
            if (type == DType.BF16) expected = RoundBf16(expected);
            Close(expected, Get(cuda, gOut.Slice(1, count)), 0, 0, $"output ({type})");
        }
        using DeviceBuffer f32 = Put(cuda, a, DType.F32), bf16 = cuda.Allocate(count + 1, DType.BF16);
        cuda.Cast(bf16.Slice(1, count), f32.Slice(0, count), count);
        Close(a[..count], Get(cuda, bf16.Slice(1, count)), 0, 0, "cast to bf16 at an odd offset");
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Casts_round_to_nearest_even_and_widen_exactly(bool reverse)
    {
        using var cuda = EmulatedGpu(reverse);
        float[] special =
        [
            0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon,
            float.MaxValue, float.MinValue, 1e-40f,
            BitConverter.UInt32BitsToSingle(0x3f808000), // exactly half an ulp above 1: tie, rounds down to even
            BitConverter.UInt32BitsToSingle(0x3f818000), // tie above an odd bf16: rounds up
            BitConverter.UInt32BitsToSingle(0x3f808001), // just above the tie: rounds up
            BitConverter.UInt32BitsToSingle(0x7f7fffff), // rounds up to infinity
        ];
        float[] values = [.. special, .. Random(700, 13, 1e3)];
        using DeviceBuffer f32 = Put(cuda, values, DType.F32), bf16 = cuda.Allocate(values.Length, DType.BF16),
            back = cuda.Allocate(values.Length, DType.F32);
        cuda.Cast(bf16, f32, values.Length);
        cuda.Cast(back, bf16, values.Length);
        float[] widened = Get(cuda, back);
        for (int i = 0; i < values.Length; i++)
        {
            float expected = BFloat16.Round(values[i]);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(widened[i]),
                $"cast of {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):x8}): expected {expected:R}, got {widened[i]:R}");
        }
        Assert.Equal(1f, BFloat16.Round(BitConverter.UInt32BitsToSingle(0x3f808000)));
        Assert.Equal(float.PositiveInfinity, BFloat16.Round(float.MaxValue));
    }

    [Fact]
    public unsafe void Synchronize_waits_for_queued_launches()
    {
        using var cuda = EmulatedGpu(reverse: true);
        const int n = 1000;
        float[] a = Random(n, 21), b = Random(n, 22);
        float[] expected = a.Zip(b, (x, y) => x + y).ToArray();
        using DeviceBuffer ga = Put(cuda, a, DType.F32), gb = Put(cuda, b, DType.F32), sum = cuda.Allocate(n, DType.F32);
        cuda.ResidualForward(sum, ga, gb, n);
        // Read past CudaKernels (whose downloads synchronise by themselves): the deferred stream has not run the launch yet.
        var raw = new float[n];
        fixed (float* p = raw) cuda.Device.CopyDeviceToHost(p, sum.View.Address, n * sizeof(float));
        Assert.NotEqual(expected, raw);
        cuda.Synchronize();
        fixed (float* p = raw) cuda.Device.CopyDeviceToHost(p, sum.View.Address, n * sizeof(float));
        Assert.Equal(expected, raw);
    }

    [Fact]
    public void Shapes_and_types_are_checked_before_launch()
    {
        using var cuda = EmulatedGpu(reverse: false);
        using DeviceBuffer small = cuda.Allocate(10, DType.F32), f64 = cuda.Allocate(100, DType.F64), rstd = cuda.Allocate(4, DType.F32);
        Assert.Throws<ArgumentException>(() => cuda.ResidualForward(small, small, small, 11));
        Assert.Throws<ArgumentException>(() => cuda.RmsNormForward(f64, rstd, f64, f64, 4, 25, 1e-5));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.Gemm(false, false, 2, 3, 4, 1, small, 3, small, 3, 0, small, 3));
    }
}
