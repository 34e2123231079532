namespace FastSelfReward.Compute;

/// <summary>One self-test check: an op (<see cref="KernelSelfTest"/>) or a training run (<c>Training.TrainingParity</c>).</summary>
/// <param name="Name">What was checked.</param>
/// <param name="Passed">Whether the device agreed with the CPU.</param>
/// <param name="Detail">The largest error, or where and how the device disagreed.</param>
public sealed record SelfTestResult(string Name, bool Passed, string Detail);

/// <summary>
/// Every <see cref="IKernels"/> op of a backend against <see cref="CpuKernels"/> on fixed shapes with
/// fp32 storage, and on a backend whose models default to bf16 with bf16 storage too; on a GPU, real
/// or emulated, also its tensor-core instructions (<see cref="Cuda.TensorCoreCheck"/>). What
/// `fsr selftest` runs on a real or emulated GPU, before <c>Training.TrainingParity</c>; the parity
/// tests hold the full shape sweeps.
/// </summary>
/// <remarks>
/// Tolerances, |device − cpu| ≤ atol + rtol·|cpu|: 1e-4 and 1e-5 for every op (the unit tests
/// state the tight per-op bounds; this check must also hold on a GPU whose compiler fuses
/// multiply-adds), sampled tokens exactly.
/// The bf16 checks give both backends the same bf16-rounded inputs, the CPU computing in fp32: the
/// device may differ by its output's rounding, rtol 2⁻⁷ and atol 2⁻⁸ of the output's largest value.
/// </remarks>
public static class KernelSelfTest
{
    private const double Rtol = 1e-4, Atol = 1e-5;
    private const double Bf16Rtol = 1.0 / 128, Bf16AtolOfMax = 1.0 / 256;

    /// <summary>Runs every check on <paramref name="device"/>, reporting each as it ends.</summary>
    public static IReadOnlyList<SelfTestResult> Run(IKernels device, Action<SelfTestResult>? report = null)
    {
        using var cpu = new CpuKernels();
        var results = new List<SelfTestResult>();
        bool bf16 = device.ModelType == DType.BF16;
        var cases = Cases.Select(c => (c.Name, c.Body, Storage: DType.F32));
        if (bf16) cases = cases.Concat(Bf16Cases.Select(c => ($"{c.Name} bf16", c.Body, Storage: DType.BF16)));
        foreach (var (name, body, storage) in cases)
        {
            var result = Compare(name, cpu, device, body, storage);
            results.Add(result);
            report?.Invoke(result);
        }
        if (device is Cuda.CudaKernels cuda)
        {
            var result = Cuda.TensorCoreCheck.Run(cuda.Device);
            results.Add(result);
            report?.Invoke(result);
        }
        return results;
    }

    private delegate IEnumerable<(string Name, float[] Values)> Case(Bench b);

    private static SelfTestResult Compare(string name, CpuKernels cpu, IKernels device, Case body, DType storage)
    {
        bool bf16 = storage == DType.BF16;
        List<(string Name, float[] Values)> expected, actual;
        try
        {
            using var b = new Bench(cpu, DType.F32, bf16);
            expected = body(b).ToList();
        }
        catch (NotSupportedException e)
        {
            return new(name, false, $"the CPU reference failed: {e.Message}");
        }
        try
        {
            using var b = new Bench(device, storage, bf16);
            actual = body(b).ToList();
        }
        catch (Exception e)
        {
            return new(name, false, $"{e.GetType().Name}: {e.Message}");
        }
        double worst = 0;
        for (int o = 0; o < expected.Count; o++)
        {
            float[] want = expected[o].Values, got = actual[o].Values;
            double rtol = bf16 ? Bf16Rtol : Rtol, atol = bf16 ? Bf16AtolOfMax * want.Max(Math.Abs) : Atol;
            for (int i = 0; i < want.Length; i++)
            {
                double error = Math.Abs((double)got[i] - want[i]);
                if (!(error <= atol + rtol * Math.Abs(want[i])))
                    return new(name, false, $"{expected[o].Name}[{i}]: device {got[i]:R} vs cpu {want[i]:R}");
                worst = Math.Max(worst, error);
            }
        }
        return new(name, true, $"max |error| {worst:E1}");
    }

    /// <summary>
    /// Buffers on one backend, filled from seeds so both backends see the same inputs. Activations and
    /// weights are of <paramref name="storage"/>; with <paramref name="bf16Inputs"/> their values are
    /// rounded to bf16 first, on both backends, so both compute from identical inputs.
    /// </summary>
    private sealed class Bench(IKernels kernels, DType storage, bool bf16Inputs) : IDisposable
    {
        private readonly List<DeviceBuffer> _owned = [];

        public IKernels K => kernels;

        /// <summary>count values uniform in [offset − scale, offset + scale) in the storage type.</summary>
        public Tensor Random(long count, int seed, double scale = 1.0, double offset = 0.0) =>
            Random(count, seed, scale, offset, storage, bf16Inputs);

        /// <summary>The same, in fp32 whatever the storage (statistics, parameter gradients, moments).</summary>
        public Tensor Random32(long count, int seed, double scale = 1.0, double offset = 0.0) =>
            Random(count, seed, scale, offset, DType.F32, round: false);

        private Tensor Random(long count, int seed, double scale, double offset, DType type, bool round)
        {
            var random = new Random(seed);
            var values = new float[count];
            for (long i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale + offset);
            if (round)
                for (long i = 0; i < count; i++) values[i] = BFloat16.Round(values[i]);
            var buffer = Own(count, type);
            kernels.Upload(buffer, values);
            return buffer;
        }

        public Tensor Put(float[] values)
        {
            var buffer = Own(values.Length, DType.F32);
            kernels.Upload(buffer, values);
            return buffer;
        }

        public Tensor Put(int[] values)
        {
            var buffer = Own(values.Length, DType.I32);
            kernels.Upload(buffer, values);
            return buffer;
        }

        /// <summary>Zeros in the storage type.</summary>
        public Tensor Zeros(long count) => Own(count, storage);

        /// <summary>Zeros of the given type (fp32 statistics, int32 tokens).</summary>
        public Tensor Zeros(long count, DType type) => Own(count, type);

        public (string, float[]) Read(string name, Tensor tensor)
        {
            if (tensor.Type == DType.I32)
            {
                var ids = new int[tensor.Length];
                kernels.Download(tensor, ids);
                return (name, ids.Select(i => (float)i).ToArray());
            }
            var values = new float[tensor.Length];
            kernels.Download(tensor, values);
            return (name, values);
        }

        private DeviceBuffer Own(long count, DType type)
        {
            var buffer = kernels.Allocate(count, type);
            _owned.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            foreach (var buffer in _owned) buffer.Dispose();
        }
    }

    private static Case Gemm => b =>
    {
        Tensor x = b.Random(6 * 8, 1), w = b.Random(10 * 8, 2), y = b.Random(6 * 10, 3);
        b.K.Gemm(false, true, 6, 10, 8, 0.5, x, 8, w, 8, 1, y, 10);
        Tensor dx = b.Zeros(6 * 8);
        b.K.Gemm(false, false, 6, 8, 10, 1, y, 10, w, 8, 0, dx, 8);
        return [b.Read("y", y), b.Read("dx", dx)];
    };

    private static Case Embedding => b =>
    {
        Tensor table = b.Random(11 * 64, 4), tokens = b.Put([3, 0, 10, 3, 7]), output = b.Zeros(5 * 64), dTable = b.Random32(11 * 64, 5);
        b.K.EmbeddingForward(output, tokens, table, 5, 64);
        b.K.EmbeddingBackward(dTable, b.Random(5 * 64, 6), tokens, 5, 64);
        return [b.Read("output", output), b.Read("dTable", dTable)];
    };

    private static Case RmsNorm => b =>
    {
        Tensor x = b.Random(7 * 96, 7, 3), w = b.Random(96, 8), output = b.Zeros(7 * 96), rstd = b.Zeros(7, DType.F32);
        Tensor dx = b.Zeros(7 * 96), dW = b.Random32(96, 9);
        b.K.RmsNormForward(output, rstd, x, w, 7, 96, 1e-5);
        b.K.RmsNormBackward(dx, dW, b.Random(7 * 96, 10), x, w, rstd, 7, 96);
        return [b.Read("output", output), b.Read("rstd", rstd), b.Read("dx", dx), b.Read("dWeight", dW)];
    };

    private static Case Residual => b =>
    {
        Tensor x = b.Random(1001, 11), y = b.Random(1001, 12), output = b.Zeros(1001);
        b.K.ResidualForward(output, x, y, 1001);
        b.K.ResidualBackward(x, y, 1001);
        return [b.Read("output", output), b.Read("destination", x)];
    };

    private static Case Rope => b =>
    {
        Tensor x = b.Random(5 * 4 * 16, 13), dx = b.Random(5 * 4 * 16, 14), positions = b.Put([0, 1, 2, 7, 40]);
        Tensor frequencies = b.Zeros(8, DType.F64);
        b.K.Upload(frequencies, Enumerable.Range(0, 8).Select(i => Math.Pow(10000, -2.0 * i / 16)).ToArray());
        b.K.RopeForward(x, positions, frequencies, 5, 4, 16);
        b.K.RopeBackward(dx, positions, frequencies, 5, 4, 16);
        return [b.Read("x", x), b.Read("dx", dx)];
    };

    private static AttentionShape Gqa(int headDim) => new(Heads: 4, KvHeads: 2, HeadDim: headDim, Scale: 1 / Math.Sqrt(headDim));

    // Each head size compiles to its own kernel (the CUDA attention is specialised for head sizes up
    // to 32, 64 and 128: Llama 3.2 1B has 64, Llama 2 and 3 have 128), so each is checked.
    private static Case Attention(int headDim) => b =>
    {
        const int rows = 8;
        var shape = Gqa(headDim);
        int qWidth = 4 * headDim, kvWidth = 2 * headDim;
        Tensor cu = b.Put([0, 3, 8]);
        Tensor q = b.Random(rows * qWidth, 15), k = b.Random(rows * kvWidth, 16), v = b.Random(rows * kvWidth, 17);
        Tensor output = b.Zeros(rows * qWidth), lse = b.Zeros(rows * 4, DType.F32);
        b.K.AttentionForward(output, lse, q, k, v, cu, 2, shape);
        Tensor dq = b.Zeros(rows * qWidth), dk = b.Zeros(rows * kvWidth), dv = b.Zeros(rows * kvWidth);
        b.K.AttentionBackward(dq, dk, dv, b.Random(rows * qWidth, 18), output, lse, q, k, v, cu, 2, shape);
        return [b.Read("output", output), b.Read("lse", lse), b.Read("dq", dq), b.Read("dk", dk), b.Read("dv", dv)];
    };

    private static Case DecodeAttention(int headDim) => b =>
    {
        // 6 blocks of 4 slots; two rows sharing their first block (a prefilled prompt prefix).
        const int blockSize = 4, blocks = 6;
        int width = 2 * headDim;
        Tensor kCache = b.Random(blocks * blockSize * width, 19), vCache = b.Random(blocks * blockSize * width, 20);
        b.K.KvCacheWrite(kCache, vCache, b.Random(3 * width, 21), b.Random(3 * width, 22), b.Put([5, 0, 22]), 3, 2, headDim);
        Tensor output = b.Zeros(2 * 4 * headDim);
        b.K.DecodeAttention(output, b.Random(2 * 4 * headDim, 23), kCache, vCache, b.Put([0, 2, 4, 0, 3, 5]), 3, b.Put([7, 11]), 2, blockSize,
            Gqa(headDim));
        return [b.Read("kCache", kCache), b.Read("vCache", vCache), b.Read("output", output)];
    };

    private static Case SwiGlu => b =>
    {
        Tensor gate = b.Random(999, 24, 4), up = b.Random(999, 25), output = b.Zeros(999), dGate = b.Zeros(999), dUp = b.Zeros(999);
        b.K.SwiGluForward(output, gate, up, 999);
        b.K.SwiGluBackward(dGate, dUp, b.Random(999, 26), gate, up, 999);
        return [b.Read("output", output), b.Read("dGate", dGate), b.Read("dUp", dUp)];
    };

    private static Case TokenLogProbs => b =>
    {
        Tensor logits = b.Random(6 * 1000, 27, 4, 20), logp = b.Zeros(6, DType.F32);
        b.K.TokenLogProbs(logits, logp, b.Put([5, 999, -1, 0, 417, 3]), b.Random32(6, 28), 6, 1000);
        return [b.Read("logp", logp), b.Read("dlogits", logits)];
    };

    /// <summary>What a bf16 model runs, checked with bf16 storage (on a backend whose models are bf16).</summary>
    private static readonly (string Name, Case Body)[] Bf16Cases =
    [
        ("gemm", Gemm), ("embedding", Embedding), ("rmsnorm", RmsNorm), ("residual", Residual), ("rope", Rope),
        ("attention head_dim 64", Attention(64)), ("attention head_dim 128", Attention(128)),
        ("kv cache + decode attention head_dim 128", DecodeAttention(128)), ("swiglu", SwiGlu), ("token log-probs", TokenLogProbs),
    ];

    private static readonly (string Name, Case Body)[] Cases =
    [
        ("gemm", Gemm), ("embedding", Embedding), ("rmsnorm", RmsNorm), ("residual", Residual), ("rope", Rope),
        ("attention", Attention(16)), ("attention head_dim 64", Attention(64)), ("attention head_dim 128", Attention(128)),
        ("kv cache + decode attention", DecodeAttention(16)), ("kv cache + decode attention head_dim 128", DecodeAttention(128)),
        ("swiglu", SwiGlu), ("token log-probs", TokenLogProbs),
        ("dpo loss", b =>
        {
            var outputs = new List<(string, float[])>();
            foreach (DpoLossKind kind in Enum.GetValues<DpoLossKind>())
            {
                Tensor loss = b.Zeros(5), gpc = b.Zeros(5), gpr = b.Zeros(5);
                b.K.DpoLoss(loss, gpc, gpr, b.Random(5, 29, 20, -40), b.Random(5, 30, 20, -40), b.Random(5, 31, 20, -40),
                    b.Random(5, 32, 20, -40), 5, 0.1, 0.1, kind);
                outputs.AddRange([b.Read($"{kind} loss", loss), b.Read($"{kind} grad pc", gpc), b.Read($"{kind} grad pr", gpr)]);
            }
            return outputs;
        }),
        ("adamw", b =>
        {
            Tensor p = b.Random(1003, 33), g = b.Random(1003, 34), m = b.Random(1003, 35, 0.1), v = b.Random(1003, 36, 0.01, 0.01);
            b.K.AdamW(p, g, m, v, 1003, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, 0.5, 3));
            return [b.Read("param", p), b.Read("m", m), b.Read("v", v)];
        }),
        ("grad norm", b =>
        {
            Tensor x = b.Random(100_003, 37);
            return [("sum of squares", [(float)b.K.SumSquares(x, 100_003)])];
        }),
        ("top-p sampling", b =>
        {
            Tensor logits = b.Random(16 * 300, 38, 4), probs = b.Zeros(16 * 300), uniforms = b.Random(16, 39, 0.5, 0.5);
            Tensor sampled = b.Zeros(16, DType.I32), greedy = b.Zeros(16, DType.I32);
            b.K.SampleTopP(sampled, probs, logits, uniforms, 16, 300, 0.8, 0.9);
            b.K.SampleTopP(greedy, probs, logits, uniforms, 16, 300, 0, 1);
            return [b.Read("tokens", sampled), b.Read("greedy", greedy)];
        }),
    ];
}
