using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

using static FastSelfReward.Tests.Compute.Cuda.CudaParity;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// Attention forward and backward, the KV cache write and decode attention on the emulated GPU
/// against CpuKernels, fp32 and bf16 storage, in the normal schedule and in reverse order with
/// deferred launches. bf16 cases give the CPU the same bf16-rounded inputs.
/// </summary>
/// <remarks>
/// Tolerances, |cuda − cpu| ≤ atol + rtol·|cpu|, with atol relative to the largest |cpu| value of
/// the tensor (gradients are sums of terms of both signs, whose small results carry the absolute
/// error of the large terms):
/// attention forward fp32: out rtol 1e-5, atol 1e-5·max; lse rtol 1e-5, atol 1e-6.
/// attention backward fp32: dq, dk, dv rtol 1e-5, atol 1e-5·max.
/// bf16 storage (out, dq, dk, dv rounded to bf16 once): rtol 2⁻⁷, atol 2⁻⁸·max; lse (fp32) as fp32.
/// decode attention: as the forward's out. KV cache write: exact.
/// The backward is also checked to give the same bits twice.
/// </remarks>
public sealed class AttentionCudaTests
{
    private const double Bf16Rtol = 1.0 / 128;

    public static TheoryData<bool> Schedules() => new() { false, true };

    private static float[] Round(float[] values, DType type) => type == DType.BF16 ? values.Select(BFloat16.Round).ToArray() : values;

    // atolScale is relative to the largest |expected| value.
    private static void Close(float[] expected, float[] actual, double rtol, double atolScale, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        double atol = atolScale * expected.Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max();
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (!(error <= atol + rtol * Math.Abs(expected[i])))
                Assert.Fail($"{name}[{i}]: cuda {actual[i]:R} vs cpu {expected[i]:R} (|error| {error:E2} > {atol:E2} + {rtol}·|cpu|)");
        }
    }

    private static int[] Offsets(int[] lengths)
    {
        var cu = new int[lengths.Length + 1];
        for (int b = 0; b < lengths.Length; b++) cu[b + 1] = cu[b] + lengths[b];
        return cu;
    }

    // Lengths 1 (a lone row), 16/17/32/33/40/70 across the 16- and 32-row tiles, 63/64/65/130/200
    // across the tensor-core forward's 64-row tiles; head_dim 32, 48 (padded to 64), 64, 80 and 128
    // (padded to 128; the 16-key dk/dv tiles); G = 1, 2, 4 and 8.
    public static TheoryData<bool, int, int, int, int[]> AttentionCases()
    {
        var data = new TheoryData<bool, int, int, int, int[]>();
        foreach (bool reverse in new[] { false, true })
        {
            data.Add(reverse, 4, 2, 64, [1, 37, 70]);
            data.Add(reverse, 8, 1, 32, [33, 5, 1]);
            data.Add(reverse, 4, 1, 128, [17, 40]);
            data.Add(reverse, 2, 2, 48, [16, 32]);
            // The tensor-core forward's 64-row query tiles and 64-key tiles (bf16, head_dim above 32):
            // sequences of several tiles, one row past a tile, exactly one tile; head_dim 80 padded to 128.
            data.Add(reverse, 8, 2, 128, [200, 65, 1, 64]);
            data.Add(reverse, 4, 4, 80, [130, 63]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_forward_and_backward_match_cpu(bool reverse, int heads, int kvHeads, int headDim, int[] lengths)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        int[] cu = Offsets(lengths);
        int n = cu[^1], batch = lengths.Length;
        var shape = new AttentionShape(heads, kvHeads, headDim, 1.0 / Math.Sqrt(headDim));
        int qCount = n * heads * headDim, kvCount = n * kvHeads * headDim;
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            string name = $"(H {heads}, KVH {kvHeads}, hd {headDim}, lengths [{string.Join(", ", lengths)}], {type})";
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-5, atol = type == DType.BF16 ? 1.0 / 256 : 1e-5;
            float[] q = Round(Random(qCount, 1, 2.0), type), k = Round(Random(kvCount, 2, 2.0), type);
            float[] v = Round(Random(kvCount, 3), type), dOut = Round(Random(qCount, 4), type);

            using DeviceBuffer cq = Put(cpu, q, DType.F32), ck = Put(cpu, k, DType.F32), cv = Put(cpu, v, DType.F32), cCu = Put(cpu, cu);
            using DeviceBuffer cOut = cpu.Allocate(qCount, DType.F32), cLse = cpu.Allocate(n * heads, DType.F32);
            using DeviceBuffer gq = Put(cuda, q, type), gk = Put(cuda, k, type), gv = Put(cuda, v, type), gCu = Put(cuda, cu);
            using DeviceBuffer gOut = cuda.Allocate(qCount, type), gLse = cuda.Allocate(n * heads, DType.F32);
            cpu.AttentionForward(cOut, cLse, cq, ck, cv, cCu, batch, shape);
            cuda.AttentionForward(gOut, gLse, gq, gk, gv, gCu, batch, shape);
            float[] output = Get(cpu, cOut), lse = Get(cpu, cLse);
            Close(output, Get(cuda, gOut), rtol, atol, $"out {name}");
            Close(lse, Get(cuda, gLse), 1e-5, 1e-6, $"lse {name}");

            // The backward gets the CPU's forward results on both sides, so it is tested alone.
            output = Round(output, type);
            using DeviceBuffer cdO = Put(cpu, dOut, DType.F32), cO = Put(cpu, output, DType.F32);
            using DeviceBuffer cdq = cpu.Allocate(qCount, DType.F32), cdk = cpu.Allocate(kvCount, DType.F32), cdv = cpu.Allocate(kvCount, DType.F32);
            using DeviceBuffer gdO = Put(cuda, dOut, type), gO = Put(cuda, output, type), gL = Put(cuda, lse, DType.F32);
            // Poisoned: every element must be overwritten.
            float[] poison = Enumerable.Repeat(float.NaN, qCount).ToArray();
            using DeviceBuffer gdq = Put(cuda, poison, type), gdk = Put(cuda, poison[..kvCount], type), gdv = Put(cuda, poison[..kvCount], type);
            cpu.AttentionBackward(cdq, cdk, cdv, cdO, cO, cLse, cq, ck, cv, cCu, batch, shape);
            cuda.AttentionBackward(gdq, gdk, gdv, gdO, gO, gL, gq, gk, gv, gCu, batch, shape);
            float[] dq = Get(cuda, gdq), dk = Get(cuda, gdk), dv = Get(cuda, gdv);
            Close(Get(cpu, cdq), dq, rtol, atol, $"dq {name}");
            Close(Get(cpu, cdk), dk, rtol, atol, $"dk {name}");
            Close(Get(cpu, cdv), dv, rtol, atol, $"dv {name}");

            cuda.AttentionBackward(gdq, gdk, gdv, gdO, gO, gL, gq, gk, gv, gCu, batch, shape);
            Assert.Equal(dq, Get(cuda, gdq));
            Assert.Equal(dk, Get(cuda, gdk));
            Assert.Equal(dv, Get(cuda, gdv));
        }
    }

    [NvrtcTheory]
    [InlineData("compute_80")]
    [InlineData("compute_90")]
    public void On_a_gpu_the_bf16_kernels_multiply_on_tensor_cores_not_in_an_fma_loop_over_head_dim(string architecture)
    {
        var compiled = new NvrtcCompiler(cacheDirectory: null).Compile(KernelSources.Load("attention_tc.cu"), architecture);
        string ptx = System.Text.Encoding.ASCII.GetString(compiled.Image);
        static int Count(string text, string instruction) => text.Split(instruction).Length - 1;
        var entries = ptx.Split(".entry ").Skip(1).ToDictionary(e => e[..e.IndexOf('(')], e => e);
        // All unrolled, per key tile (query tile for dk/dv) and warp. Forward: S = Q K^T, 8 key blocks x HD/16 steps, and
        // O += P V, 4 key steps x HD/8 blocks. dq, per 32 keys twice: S and dP, 4 key blocks x HD/16
        // steps each, and dQ += dS K, 2 key steps x HD/8 blocks.
        var expected = new Dictionary<string, int>
        {
            ["attention_forward_tc_bf16_64"] = 32 + 32, ["attention_forward_tc_bf16_128"] = 64 + 64,
            ["attention_backward_dq_tc_bf16_64"] = 2 * (32 + 16), ["attention_backward_dq_tc_bf16_128"] = 2 * (64 + 32),
            // dk/dv, per query tile (32 queries; 16 at HD 128): S^T and dP^T, HD/32 x 4 query blocks x 4
            // (x 2 blocks at HD 128); dV and dK, 2 query steps x HD/16 x 4 (one step at HD 128).
            ["attention_backward_dkdv_tc_bf16_64"] = 32 + 32, ["attention_backward_dkdv_tc_bf16_128"] = 32 + 32,
        };
        Assert.Equal(expected.Keys.Order(), entries.Keys.Order());
        foreach (var (entry, mma) in expected)
        {
            string body = entries[entry];
            Assert.True(mma == Count(body, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"), $"{entry}: mma.sync");
            Assert.True(Count(body, "ldmatrix.sync.aligned.m8n8.x4.shared") > 0 && Count(body, "ldmatrix.sync.aligned.m8n8.x4.trans") > 0, entry);
            // What FMA is left belongs to the exponentials (a few per exp) and dS, not to dot products
            // over head_dim (attention.cu's FMA kernels have thousands).
            int fma = Count(body, "fma.rn.f32"), exp = Count(body, "ex2.approx");
            Assert.True(exp > 0 && fma <= 8 * exp, $"{entry}: {fma} fma.rn.f32 against {exp} ex2.approx");
        }
    }

    [Fact]
    public void Attention_rejects_head_dims_past_128_and_ungrouped_heads()
    {
        using var cuda = EmulatedGpu(false);
        using DeviceBuffer t = cuda.Allocate(1024, DType.F32), lse = cuda.Allocate(8, DType.F32), cu = Put(cuda, [0, 1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.AttentionForward(t, lse, t, t, t, cu, 1, new AttentionShape(1, 1, 256, 1.0)));
        Assert.Throws<ArgumentException>(() => cuda.AttentionForward(t, lse, t, t, t, cu, 1, new AttentionShape(3, 2, 16, 1.0)));
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void KvCacheWrite_matches_cpu_exactly(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int n = 5, blocks = 4, blockSize = 3;
        int[] slots = [7, 2, 0, 11, 4];  // scrambled; slots 1, 3, 5.. keep their old contents
        // hd 24: 16-byte packs for both types; 5: element by element
        foreach (int headDim in new[] { 24, 5 })
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            const int kvHeads = 2;
            int width = kvHeads * headDim, cacheCount = blocks * blockSize * width;
            float[] k = Round(Random(n * width, 11), type), v = Round(Random(n * width, 12), type);
            float[] kc = Round(Random(cacheCount, 13), type), vc = Round(Random(cacheCount, 14), type);
            using DeviceBuffer ck = Put(cpu, k, DType.F32), cv = Put(cpu, v, DType.F32), ckc = Put(cpu, kc, DType.F32), cvc = Put(cpu, vc, DType.F32);
            using DeviceBuffer gk = Put(cuda, k, type), gv = Put(cuda, v, type), gkc = Put(cuda, kc, type), gvc = Put(cuda, vc, type);
            using DeviceBuffer cs = Put(cpu, slots), gs = Put(cuda, slots);
            cpu.KvCacheWrite(ckc, cvc, ck, cv, cs, n, kvHeads, headDim);
            cuda.KvCacheWrite(gkc, gvc, gk, gv, gs, n, kvHeads, headDim);
            Close(Get(cpu, ckc), Get(cuda, gkc), 0, 0, $"k cache (hd {headDim}, {type})");
            Close(Get(cpu, cvc), Get(cuda, gvc), 0, 0, $"v cache (hd {headDim}, {type})");
        }
    }

    // Lengths 1, 45 and 130 (past the 4 warps x 32 tokens of one pass); block size 16 with the
    // blocks of all rows scrambled over the cache, so neighbouring tokens are far apart.
    public static TheoryData<bool, int, int, int> DecodeCases()
    {
        var data = new TheoryData<bool, int, int, int>();
        foreach (bool reverse in new[] { false, true })
        {
            data.Add(reverse, 4, 2, 64);
            data.Add(reverse, 8, 1, 32);
            data.Add(reverse, 2, 1, 128);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void DecodeAttention_matches_cpu_over_a_scrambled_block_table(bool reverse, int heads, int kvHeads, int headDim)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        int[] lengths = [1, 45, 130];
        const int batch = 3, blockSize = 16, maxBlocks = 9, cacheBlocks = batch * maxBlocks;
        var permutation = Enumerable.Range(0, cacheBlocks).OrderBy(i => (i * 7919) % 29).ToArray();
        var shape = new AttentionShape(heads, kvHeads, headDim, 1.0 / Math.Sqrt(headDim));
        int qCount = batch * heads * headDim, cacheCount = cacheBlocks * blockSize * kvHeads * headDim;
        foreach (DType type in new[] { DType.F32, DType.BF16 })
        {
            string name = $"(H {heads}, KVH {kvHeads}, hd {headDim}, {type})";
            double rtol = type == DType.BF16 ? Bf16Rtol : 1e-5, atol = type == DType.BF16 ? 1.0 / 256 : 1e-5;
            float[] q = Round(Random(qCount, 21, 2.0), type), kc = Round(Random(cacheCount, 22, 2.0), type), vc = Round(Random(cacheCount, 23), type);
            using DeviceBuffer cq = Put(cpu, q, DType.F32), ckc = Put(cpu, kc, DType.F32), cvc = Put(cpu, vc, DType.F32);
            using DeviceBuffer ct = Put(cpu, permutation), cl = Put(cpu, lengths), cOut = cpu.Allocate(qCount, DType.F32);
            using DeviceBuffer gq = Put(cuda, q, type), gkc = Put(cuda, kc, type), gvc = Put(cuda, vc, type);
            using DeviceBuffer gt = Put(cuda, permutation), gl = Put(cuda, lengths), gOut = cuda.Allocate(qCount, type);
            cpu.DecodeAttention(cOut, cq, ckc, cvc, ct, maxBlocks, cl, batch, blockSize, shape);
            cuda.DecodeAttention(gOut, gq, gkc, gvc, gt, maxBlocks, gl, batch, blockSize, shape);
            Close(Get(cpu, cOut), Get(cuda, gOut), rtol, atol, $"out {name}");
        }
    }
}
