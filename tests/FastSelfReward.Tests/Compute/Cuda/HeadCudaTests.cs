using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

using static FastSelfReward.Tests.Compute.Cuda.CudaParity;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// The LM-head ops of CudaKernels over the emulated GPU against CpuKernels: token log-probs with
/// their in-place gradient, and top-p sampling, with fp32 and bf16 storage, in the normal schedule
/// and in reverse order with deferred launches. bf16 cases give the CPU the bf16-rounded inputs.
/// </summary>
/// <remarks>
/// Tolerances, |cuda − cpu| ≤ atol + rtol·|cpu|:
/// TokenLogProbs fp32: logp rtol 1e-5, atol 1e-5 (fp32 online sum against the CPU's double sum);
/// gradient rtol 1e-5, atol 1e-7. bf16 logits: logp as fp32 (fp32 storage) or rtol 2⁻⁸ (bf16 storage);
/// gradient (written into the bf16 logits) rtol 2⁻⁸, atol 1e-6. Masked rows: logp and gradient exactly 0.
/// SampleTopP: the same token as the CPU for every row (p has the CPU's bits, see sample_top_p.cu);
/// probs rtol 1e-6 (fp32) or 2⁻⁸ (bf16).
/// </remarks>
public sealed class HeadCudaTests
{
    private const double Bf16Rtol = 1.0 / 256;

    public static TheoryData<bool> Schedules() => new() { false, true };

    // (logits storage, logp / weights storage)
    private static readonly (DType Rows, DType Scalars)[] HeadTypes = [(DType.F32, DType.F32), (DType.BF16, DType.F32), (DType.BF16, DType.BF16)];

    [Theory]
    [MemberData(nameof(Schedules))]
    public void TokenLogProbs_and_gradient_match_cpu_with_masked_rows(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int n = 9;
        // 37: odd (no 16-byte packs), idle lanes; 256: packs for both types; 1000: fp32 and bf16 packs, threads striding;
        // 1003: no packs, several columns per thread
        foreach (int vocab in new[] { 37, 256, 1000, 1003 })
        foreach (var (rows, scalars) in HeadTypes)
        foreach (bool backward in new[] { false, true })
        {
            int[] targets = Enumerable.Range(0, n).Select(i => i % 4 == 2 ? -1 : (i * 7919 + 3) % vocab).ToArray();
            targets[0] = vocab - 1;
            targets[1] = 0;
            // An offset of 30: lse far from 0, where x_t - lse in fp32 would lose digits.
            float[] logits = Random(n * vocab, vocab, 4.0, 30.0), weights = Random(n, vocab + 1);
            if (rows == DType.BF16) logits = RoundBf16(logits);
            if (scalars == DType.BF16) weights = RoundBf16(weights);
            using DeviceBuffer cl = Put(cpu, logits, DType.F32), ct = Put(cpu, targets), cw = Put(cpu, weights, DType.F32),
                clp = cpu.Allocate(n, DType.F32);
            using DeviceBuffer gl = Put(cuda, logits, rows), gt = Put(cuda, targets), gw = Put(cuda, weights, scalars),
                glp = Put(cuda, Random(n, 5), scalars);
            cpu.TokenLogProbs(cl, clp, ct, backward ? (Tensor)cw : null, n, vocab);
            cuda.TokenLogProbs(gl, glp, gt, backward ? (Tensor)gw : null, n, vocab);
            string shape = $"(vocab {vocab}, {rows}/{scalars}, backward {backward})";
            float[] expected = Get(cpu, clp);
            if (scalars == DType.BF16) Close(RoundBf16(expected), Get(cuda, glp), Bf16Rtol, 1e-5, $"logp {shape}");
            else Close(expected, Get(cuda, glp), 1e-5, 1e-5, $"logp {shape}");
            float[] dLogits = Get(cuda, gl);
            if (backward)
            {
                float[] expectedGrad = Get(cpu, cl);
                if (rows == DType.BF16) Close(RoundBf16(expectedGrad), dLogits, Bf16Rtol, 1e-6, $"dlogits {shape}");
                else Close(expectedGrad, dLogits, 1e-5, 1e-7, $"dlogits {shape}");
            }
            else Close(logits, dLogits, 0, 0, $"logits untouched {shape}");
            for (int i = 0; i < n; i++)
            {
                if (targets[i] >= 0) continue;
                Assert.Equal(0f, Get(cuda, glp)[i]);
                if (backward) Assert.All(dLogits.AsSpan(i * vocab, vocab).ToArray(), g => Assert.Equal(0f, g));
            }
        }
    }

    // Rows with ties (a repeated maximum, repeated values) and rows of very different spreads.
    private static float[] SamplingLogits(int rows, int vocab, int seed)
    {
        var random = new Random(seed);
        var logits = new float[rows * vocab];
        for (int r = 0; r < rows; r++)
        {
            double scale = r % 3 == 0 ? 0.3 : r % 3 == 1 ? 3.0 : 12.0;
            for (int j = 0; j < vocab; j++) logits[r * vocab + j] = (float)((random.NextDouble() * 2 - 1) * scale);
            if (r % 4 == 1)
            {
                // a tie for the maximum, the lower id later in the row's first half
                float top = (float)scale + 1;
                logits[r * vocab + vocab / 2] = top;
                logits[r * vocab + vocab / 3] = top;
                logits[r * vocab + vocab - 1] = top;
            }
            if (r % 4 == 2)
                for (int j = 0; j < vocab; j++) logits[r * vocab + j] = (float)Math.Round(logits[r * vocab + j]);  // many equal values
        }
        return logits;
    }

    /// <summary>
    /// fsr_exp (native/cpu/fast_exp.h, fast_exp in kernels/sample_top_p.cu) operation by operation, each
    /// rounded to float: .NET does not fuse a multiply and an add unless asked to.
    /// </summary>
    private static float FsrExp(float x)
    {
        float xc = x > -87.0f ? x : -87.0f;
        xc = xc < 88.0f ? xc : 88.0f;
        float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = xc - k * 0.693359375f;
        r = r - k * -2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        float twoK = BitConverter.Int32BitsToSingle(((int)k + 127) << 23);
        return x >= -87.0f ? p * twoK : 0.0f;
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Sampling_probabilities_are_the_bits_of_the_formula_rounded_step_by_step_on_the_cpu_and_the_gpu(bool reverse)
    {
        // The sampler compares each p with a threshold: a multiply-add fused on one backend and not on
        // the other moves p by an ulp and can move the token. p_j = fsr_exp((x_j - max) / T) * (float)(1 / Σ),
        // every step rounded, on both backends (the sum is a double; its order changes it by 1e-16,
        // which moves the float 1 / Σ only on a knife's edge).
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int rows = 12, vocab = 1031;
        float[] logits = SamplingLogits(rows, vocab, seed: 5);
        float[] uniforms = Random(rows, 6, 0.5, 0.5);
        foreach (double temperature in new[] { 0.7, 1.3 })
        {
            var expected = new float[rows * vocab];
            for (int r = 0; r < rows; r++)
            {
                var row = logits.AsSpan(r * vocab, vocab);
                float max = row.ToArray().Max();
                var e = new float[vocab];
                double total = 0;
                for (int j = 0; j < vocab; j++) total += e[j] = FsrExp((row[j] - max) / (float)temperature);
                float inv = (float)(1.0 / total);
                for (int j = 0; j < vocab; j++) expected[r * vocab + j] = e[j] * inv;
            }
            using DeviceBuffer cl = Put(cpu, logits, DType.F32), cu = Put(cpu, uniforms, DType.F32),
                cp = cpu.Allocate(rows * vocab, DType.F32), ctok = cpu.Allocate(rows, DType.I32);
            using DeviceBuffer gl = Put(cuda, logits, DType.F32), gu = Put(cuda, uniforms, DType.F32),
                gp = cuda.Allocate(rows * vocab, DType.F32), gtok = cuda.Allocate(rows, DType.I32);
            cpu.SampleTopP(ctok, cp, cl, cu, rows, vocab, temperature, 0.9);
            cuda.SampleTopP(gtok, gp, gl, gu, rows, vocab, temperature, 0.9);
            foreach (var (backend, probs) in new[] { ("cpu", Get(cpu, cp)), ("emulated gpu", Get(cuda, gp)) })
            {
                int differ = Enumerable.Range(0, expected.Length).Count(i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(probs[i]));
                Assert.True(differ == 0, $"{backend}, T {temperature}: {differ} of {expected.Length} probabilities differ from the formula's bits");
            }
        }
    }

    [NvrtcTheory]
    [InlineData("compute_80")]
    [InlineData("compute_90")]
    public void On_a_gpu_the_sampler_fuses_no_multiply_add(string architecture)
    {
        // NVRTC contracts a * b + c into fma.rn.f32 by default; __fmul_rn / __fadd_rn keep every
        // step of the sampler's exp rounded as the CPU rounds it.
        var compiled = new NvrtcCompiler(cacheDirectory: null).Compile(KernelSources.Load("sample_top_p.cu"), architecture);
        string ptx = System.Text.Encoding.ASCII.GetString(compiled.Image);
        Assert.Contains("mul.rn.f32", ptx);
        Assert.DoesNotContain("fma.rn.f32", ptx);
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void SampleTopP_picks_the_cpu_token_for_every_row(bool reverse)
    {
        using var cpu = new CpuKernels();
        using var cuda = EmulatedGpu(reverse);
        const int rows = 24;
        var mismatches = new List<string>();
        // 300: one partial scan tile; 1031: odd, three tiles of 512 ids
        foreach (int vocab in new[] { 300, 1031 })
        foreach (var (type, uniformType) in HeadTypes)
        foreach (double temperature in new[] { 0.0, 0.7, 1.0, 1.6 })
        foreach (double topP in new[] { 1e-6, 0.5, 0.9, 1.0 })
        {
            if (temperature == 0 && topP != 1.0) continue;
            int seed = vocab * 31 + (int)(temperature * 10) + (int)(topP * 1000);
            float[] logits = SamplingLogits(rows, vocab, seed);
            float[] uniforms = Random(rows, seed + 1, 0.5, 0.5).Select(u => Math.Min(u, 0.99999994f)).ToArray();
            uniforms[0] = 0f;
            uniforms[1] = 0.99999994f;
            if (type == DType.BF16) logits = RoundBf16(logits);
            if (uniformType == DType.BF16) uniforms = RoundBf16(uniforms).Select(u => Math.Min(u, 0.99609375f)).ToArray();
            using DeviceBuffer cl = Put(cpu, logits, DType.F32), cu = Put(cpu, uniforms, DType.F32),
                cp = cpu.Allocate(rows * vocab, DType.F32), ctok = cpu.Allocate(rows, DType.I32);
            using DeviceBuffer gl = Put(cuda, logits, type), gu = Put(cuda, uniforms, uniformType),
                gp = cuda.Allocate(rows * vocab, type), gtok = cuda.Allocate(rows, DType.I32);
            cpu.SampleTopP(ctok, cp, cl, cu, rows, vocab, temperature, topP);
            cuda.SampleTopP(gtok, gp, gl, gu, rows, vocab, temperature, topP);
            int[] expected = Ints(cpu, ctok), actual = Ints(cuda, gtok);
            string shape = $"(vocab {vocab}, {type}/{uniformType}, T {temperature}, top_p {topP})";
            for (int r = 0; r < rows; r++)
                if (expected[r] != actual[r]) mismatches.Add($"row {r} {shape}: cuda {actual[r]} vs cpu {expected[r]}");
            if (temperature > 0)
            {
                float[] probs = Get(cpu, cp);
                if (type == DType.BF16) Close(RoundBf16(probs), Get(cuda, gp), Bf16Rtol, 0, $"probs {shape}");
                else Close(probs, Get(cuda, gp), 1e-6, 0, $"probs {shape}");
            }
            if (topP == 1e-6 || temperature == 0)
            {
                // greedy: the first maximum (ties to the lowest id) for u < 1/ties
                for (int r = 0; r < rows; r++)
                {
                    float[] row = logits.AsSpan(r * vocab, vocab).ToArray();
                    float max = row.Max();
                    int[] best = Enumerable.Range(0, vocab).Where(j => row[j] == max).ToArray();
                    if (temperature == 0 || uniforms[r] * best.Length < 1 - 1e-6) Assert.Equal(best[0], actual[r]);
                    else Assert.Contains(actual[r], best);
                }
            }
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public void Head_ops_reject_mismatched_types()
    {
        using var cuda = EmulatedGpu(false);
        using DeviceBuffer logits = cuda.Allocate(8, DType.F32), logp = cuda.Allocate(2, DType.BF16), targets = cuda.Allocate(2, DType.I32);
        Assert.Throws<ArgumentException>(() => cuda.TokenLogProbs(logits, logp, targets, null, 2, 4));
        using DeviceBuffer probs = cuda.Allocate(8, DType.BF16), uniforms = cuda.Allocate(2, DType.F32), tokens = cuda.Allocate(2, DType.I32);
        Assert.Throws<ArgumentException>(() => cuda.SampleTopP(tokens, probs, logits, uniforms, 2, 4, 1.0, 0.9));
        Assert.Throws<ArgumentOutOfRangeException>(() => cuda.SampleTopP(tokens, logits, logits, uniforms, 2, 4, 1.0, 0.0));
    }
}
