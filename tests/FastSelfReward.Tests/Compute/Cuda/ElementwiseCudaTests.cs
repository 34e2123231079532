using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

using static FastSelfReward.Tests.Compute.Cuda.CudaParity;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// RoPE, SwiGLU, AdamW, SumSquares/Scale and the DPO loss on the emulated GPU against CpuKernels,
/// fp32 and (where the op stores activations) bf16 storage, in the normal schedule and in reverse
/// order with deferred launches. bf16 cases feed the CPU the bf16-rounded inputs and round its
/// result, so a mismatch of one bf16 ulp (rtol 2⁻⁷) is all the storage may add.
/// </summary>
/// <remarks>
/// Tolerances, |cuda − cpu| ≤ atol + rtol·|cpu|:
/// RoPE fp32: rtol 1e-6, atol 1e-6 (cos/sin from the same double angle; only fused multiply-adds differ). bf16: rtol 2⁻⁷, atol 1e-6.
/// SwiGLU fp32: rtol 1e-5, atol 1e-6 (expf against the CPU's polynomial exp). bf16: rtol 2⁻⁷, atol 1e-6.
/// AdamW fp32 (param, m, v over three steps): rtol 1e-6, atol 1e-9.
/// SumSquares: rtol 1e-12 (double accumulation, another order); the same bits on every call.
/// DPO loss and gradients fp32: rtol 1e-6, atol 1e-9 (double arithmetic, rounded once). bf16: rtol 2⁻⁷, atol 1e-9.
/// </remarks>
public sealed class ElementwiseCudaTests
{
    private const double Bf16Rtol = 1.0 / 128;

    public static TheoryData<bool> Schedules() => new() { false, true };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Rope_forward_and_backward_match_cpu(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        // Ragged packed rows: positions restart, and reach the range where a float angle would fail.
        int[] positions = [0, 1, 2, 40000, 0, 131071, 7];
        int n = positions.Length;
        // (heads, headDim): 16 packs for both types; 6 packs for neither (half 3); 520 has two 256-pair
        // chunks, packed in fp32, not in bf16 (half 260); 128 the Llama head, one head (a short block).
        // The last: Llama 3.1's table (kept, blended and slowed frequencies).
        var llama31 = new FastSelfReward.Model.Llama3RopeScaling(8, 1, 4, 8192);
        foreach (var (heads, headDim, theta, scaling) in new (int, int, double, FastSelfReward.Model.Llama3RopeScaling?)[]
                 { (3, 16, 10000.0, null), (2, 6, 10000.0, null), (2, 520, 500000.0, null), (1, 128, 1234.5, null), (2, 128, 500000.0, llama31) })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            using DeviceBuffer cf = Frequencies(cpu, headDim, theta, scaling), gf = Frequencies(cuda, headDim, theta, scaling);
            int count = n * heads * headDim;
            float[] x = Stored(Random(count, 21, 2.0), type);
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-6;
            string shape = $"(heads {heads}, headDim {headDim}, {type})";
            using DeviceBuffer cp = Put(cpu, positions), gp = Put(cuda, positions);
            using DeviceBuffer cx = Put(cpu, x, DType.F32), gx = Put(cuda, x, type);
            cpu.RopeForward(cx, cp, cf, n, heads, headDim);
            cuda.RopeForward(gx, gp, gf, n, heads, headDim);
            Close(Stored(Get(cpu, cx), type), Get(cuda, gx), rtol, 1e-6, $"forward {shape}");

            // The backward gets the same gradient on both sides, so it is compared alone.
            float[] dx = Stored(Random(count, 22), type);
            cpu.Upload(cx, dx);
            cuda.Upload(gx, dx);
            cpu.RopeBackward(cx, cp, cf, n, heads, headDim);
            cuda.RopeBackward(gx, gp, gf, n, heads, headDim);
            Close(Stored(Get(cpu, cx), type), Get(cuda, gx), rtol, 1e-6, $"backward {shape}");
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Rope_on_an_unaligned_slice_takes_the_scalar_path_and_backward_undoes_forward(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        int[] positions = [5, 17, 1000];
        const int heads = 2, headDim = 16, count = 3 * heads * headDim;
        float[] x = Random(count, 23);
        using DeviceBuffer cp = Put(cpu, positions), gp = Put(cuda, positions);
        using DeviceBuffer cf = Frequencies(cpu, headDim, 10000), gf = Frequencies(cuda, headDim, 10000);
        using DeviceBuffer cx = Put(cpu, x, DType.F32), gx = Put(cuda, [0f, .. x], DType.F32);
        Tensor slice = gx.Slice(1, count);
        cpu.RopeForward(cx, cp, cf, 3, heads, headDim);
        cuda.RopeForward(slice, gp, gf, 3, heads, headDim);
        Close(Get(cpu, cx), Get(cuda, slice), 1e-6, 1e-6, "forward of a slice at offset 1");
        cuda.RopeBackward(slice, gp, gf, 3, heads, headDim);
        Close(x, Get(cuda, slice), 0, 1e-6, "backward after forward");
        Assert.Equal(0f, Get(cuda, gx)[0]);
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void SwiGlu_forward_and_backward_match_cpu(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        // 1003 leaves a remainder after the packs; 4099 spans several blocks.
        foreach (int count in new[] { 1003, 4099 })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            float[] gate = Random(count, 31, 8.0);
            // Saturated gates: exp(-g) overflows (s = 0 exactly) or s = 1.
            gate[0] = -100f; gate[1] = 100f; gate[2] = -88.5f; gate[3] = 0f;
            gate = Stored(gate, type);
            float[] up = Stored(Random(count, 32, 3.0), type), dOut = Stored(Random(count, 33), type);
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-5;
            string shape = $"(count {count}, {type})";
            using DeviceBuffer cg = Put(cpu, gate, DType.F32), cu = Put(cpu, up, DType.F32), cd = Put(cpu, dOut, DType.F32),
                co = cpu.Allocate(count, DType.F32), cdg = cpu.Allocate(count, DType.F32), cdu = cpu.Allocate(count, DType.F32);
            using DeviceBuffer gg = Put(cuda, gate, type), gu = Put(cuda, up, type), gd = Put(cuda, dOut, type),
                go = cuda.Allocate(count, type), gdg = cuda.Allocate(count, type), gdu = cuda.Allocate(count, type);
            cpu.SwiGluForward(co, cg, cu, count);
            cuda.SwiGluForward(go, gg, gu, count);
            Close(Stored(Get(cpu, co), type), Get(cuda, go), rtol, 1e-6, $"output {shape}");
            cpu.SwiGluBackward(cdg, cdu, cd, cg, cu, count);
            cuda.SwiGluBackward(gdg, gdu, gd, gg, gu, count);
            Close(Stored(Get(cpu, cdg), type), Get(cuda, gdg), rtol, 1e-6, $"dGate {shape}");
            Close(Stored(Get(cpu, cdu), type), Get(cuda, gdu), rtol, 1e-6, $"dUp {shape}");
            Assert.DoesNotContain(Get(cuda, gdg), float.IsNaN);
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void SwiGlu_on_unaligned_slices_matches_cpu(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int count = 37;
        float[] gate = Random(count, 34, 4.0), up = Random(count, 35), dOut = Random(count, 36);
        using DeviceBuffer cg = Put(cpu, gate, DType.F32), cu = Put(cpu, up, DType.F32), cd = Put(cpu, dOut, DType.F32),
            cdg = cpu.Allocate(count, DType.F32), cdu = cpu.Allocate(count, DType.F32);
        using DeviceBuffer gg = Put(cuda, [0f, .. gate], DType.F32), gu = Put(cuda, up, DType.F32), gd = Put(cuda, dOut, DType.F32),
            gdg = cuda.Allocate(count + 1, DType.F32), gdu = cuda.Allocate(count, DType.F32);
        cpu.SwiGluBackward(cdg, cdu, cd, cg, cu, count);
        cuda.SwiGluBackward(gdg.Slice(1, count), gdu, gd, gg.Slice(1, count), gu, count);
        Close(Get(cpu, cdg), Get(cuda, gdg.Slice(1, count)), 1e-5, 1e-6, "dGate");
        Close(Get(cpu, cdu), Get(cuda, gdu), 1e-5, 1e-6, "dUp");
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void AdamW_matches_cpu_over_several_steps_also_on_a_slice(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int count = 1003;
        float[] param = Random(count, 41), zeros = new float[count];
        using DeviceBuffer cp = Put(cpu, param, DType.F32), cm = Put(cpu, zeros, DType.F32), cv = Put(cpu, zeros, DType.F32),
            cg = cpu.Allocate(count, DType.F32);
        using DeviceBuffer gp = Put(cuda, param, DType.F32), gm = Put(cuda, zeros, DType.F32), gv = Put(cuda, zeros, DType.F32),
            gg = cuda.Allocate(count, DType.F32);
        for (int step = 1; step <= 3; step++)
        {
            float[] grad = Random(count, 41 + step, 0.1);
            grad[step] = 0f;
            cpu.Upload(cg, grad);
            cuda.Upload(gg, grad);
            // Two ranges as the optimizer calls it: with and without weight decay; the second starts unaligned.
            foreach (var (offset, length, decay) in new[] { (0, 501, 0.1), (501, count - 501, 0.0) })
            {
                var update = new AdamWStep(1e-3, 0.9, 0.95, 1e-8, decay, 0.5, step);
                cpu.AdamW(cp.Slice(offset, length), cg.Slice(offset, length), cm.Slice(offset, length), cv.Slice(offset, length), length, update);
                cuda.AdamW(gp.Slice(offset, length), gg.Slice(offset, length), gm.Slice(offset, length), gv.Slice(offset, length), length, update);
            }
            Close(Get(cpu, cm), Get(cuda, gm), 1e-6, 1e-9, $"m after step {step}");
            Close(Get(cpu, cv), Get(cuda, gv), 1e-6, 1e-9, $"v after step {step}");
            Close(Get(cpu, cp), Get(cuda, gp), 1e-6, 1e-9, $"param after step {step}");
        }
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void SumSquares_matches_cpu_and_is_the_same_bits_every_call(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        // 1: one thread; 1003: a remainder after packs; 300007: hundreds of blocks; 1 << 20 + 5: the grid capped at 1024 blocks (fp32).
        foreach (int count in new[] { 1, 1003, 300007, (1 << 20) + 5 })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            float[] x = Stored(Random(count, 51, 3.0), type);
            using DeviceBuffer cx = Put(cpu, x, DType.F32), gx = Put(cuda, x, type);
            double expected = cpu.SumSquares(cx, count), actual = cuda.SumSquares(gx, count);
            Assert.True(Math.Abs(actual - expected) <= 1e-12 * expected, $"sum of squares (count {count}, {type}): cuda {actual:R} vs cpu {expected:R}");
            Assert.Equal(BitConverter.DoubleToInt64Bits(actual), BitConverter.DoubleToInt64Bits(cuda.SumSquares(gx, count)));
            if (count == 1003)
            {
                double sliced = cuda.SumSquares(gx.Slice(1, count - 1), count - 1);
                Assert.True(Math.Abs(sliced - (expected - (double)x[0] * x[0])) <= 1e-12 * expected, $"sum of squares of a slice ({type})");
            }
        }
        using DeviceBuffer empty = cuda.Allocate(1, DType.F32);
        Assert.Equal(0.0, cuda.SumSquares(empty, 0));
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void DpoLoss_matches_cpu_for_every_kind(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int pairs = 300; // two blocks
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        foreach (DpoLossKind kind in Enum.GetValues<DpoLossKind>())
        foreach (var (beta, smoothing) in new[] { (0.1, 0.0), (2.5, 0.1), (0.1, 0.49) })
        {
            float[][] inputs = Enumerable.Range(0, 4).Select(k => Stored(Random(pairs, 71 + k, 50.0), type)).ToArray();
            // h = 0 exactly (loss ln 2), and |beta h| in the hundreds, where a naive log-sigmoid overflows.
            for (int k = 0; k < 4; k++) inputs[k][0] = -3f;
            inputs[0][1] = 400f; inputs[1][1] = -400f;
            inputs[0][2] = -400f; inputs[1][2] = 400f;
            using DeviceBuffer c = cpu.Allocate(7 * pairs, DType.F32), g = cuda.Allocate(7 * pairs, type);
            Tensor CpuPart(int k) => c.Slice(k * pairs, pairs);
            Tensor GpuPart(int k) => g.Slice(k * pairs, pairs);
            for (int k = 0; k < 4; k++)
            {
                cpu.Upload(CpuPart(3 + k), inputs[k]);
                cuda.Upload(GpuPart(3 + k), inputs[k]);
            }
            cpu.DpoLoss(CpuPart(0), CpuPart(1), CpuPart(2), CpuPart(3), CpuPart(4), CpuPart(5), CpuPart(6), pairs, beta, smoothing, kind);
            cuda.DpoLoss(GpuPart(0), GpuPart(1), GpuPart(2), GpuPart(3), GpuPart(4), GpuPart(5), GpuPart(6), pairs, beta, smoothing, kind);
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-6;
            string[] names = ["loss", "gradPolicyChosen", "gradPolicyRejected"];
            for (int k = 0; k < 3; k++)
                Close(Stored(Get(cpu, CpuPart(k)), type), Get(cuda, GpuPart(k)), rtol, 1e-9, $"{names[k]} ({kind}, beta {beta}, e {smoothing}, {type})");
            if (kind == DpoLossKind.Sigmoid) Assert.Equal(Stored([(float)Math.Log(2)], type)[0], Get(cuda, GpuPart(0))[0]);
        }
    }

    [Fact]
    public void Arguments_are_checked_before_launch_as_on_the_cpu()
    {
        using var cuda = EmulatedGpu(reverse: false);
        using DeviceBuffer x = cuda.Allocate(16, DType.F32), bf16 = cuda.Allocate(16, DType.BF16), f64 = cuda.Allocate(16, DType.F64),
            positions = cuda.Allocate(2, DType.I32);
        Tensor p = x.Slice(0, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, 0.0, 0.0, DpoLossKind.Sigmoid));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, double.NaN, 0.0, DpoLossKind.Sigmoid));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, double.PositiveInfinity, 0.0, DpoLossKind.Ipo));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, 0.1, 0.5, DpoLossKind.Robust));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, 0.1, -0.1, DpoLossKind.Sigmoid));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.DpoLoss(p, p, p, p, p, p, p, 4, 0.1, 0.0, (DpoLossKind)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.AdamW(x, x, x, x, 16, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0, 1, 0)));
        Assert.Throws<ArgumentException>(() => cuda.AdamW(bf16, bf16, bf16, bf16, 16, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0, 1, 1)));
        Assert.Throws<ArgumentException>(() => cuda.RopeForward(x, positions, f64.Slice(0, 1), 2, 2, 3));
        Assert.Throws<ArgumentException>(() => cuda.RopeForward(x, positions, f64.Slice(0, 4), 2, 2, 8));
        // The frequency table must be F64 with headDim/2 entries.
        Assert.Throws<ArgumentException>(() => cuda.RopeForward(x.Slice(0, 8), positions, x.Slice(0, 2), 2, 1, 4));
        Assert.Throws<ArgumentException>(() => cuda.RopeForward(x.Slice(0, 8), positions, f64.Slice(0, 1), 2, 1, 4));
        Assert.Throws<ArgumentException>(() => cuda.SwiGluForward(f64, f64, f64, 16));
        Assert.Throws<ArgumentException>(() => cuda.SumSquares(x, 17));
    }
}
