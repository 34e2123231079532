namespace FastSelfReward.Compute.Cuda;

// The LM-head ops: token log-probs (kernels/token_logprobs.cu) and top-p sampling (kernels/sample_top_p.cu).
public sealed unsafe partial class CudaKernels
{
    // Sampling runs ~36 block reductions per row; 512 threads keep a 128k-token row at 256 ids a
    // thread without pushing registers (double sums) past the 64k-per-SM budget at 1024.
    private const long MaxSampleBlock = 512;

    /// <summary>
    /// Logits F32 or BF16; logp and gradWeights F32, or BF16 like the logits. Targets must be below
    /// <paramref name="vocab"/> (not checked: they live in device memory); negative targets mark masked rows.
    /// </summary>
    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab)
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, "vocab must be >= 1");
        long count = Elements(n, vocab, nameof(n), nameof(vocab));
        DType type = StorageType(logits, nameof(logits));
        Expect(logits, type, count, nameof(logits));
        DType scalar = RowScalarType(logp, type, nameof(logp));
        Expect(logp, scalar, n, nameof(logp));
        Expect(targets, DType.I32, n, nameof(targets));
        nint weights = 0;
        if (gradWeights is Tensor w)
        {
            Expect(w, scalar, n, nameof(gradWeights));
            weights = w.Address;
        }
        if (n == 0) return;
        nint l = logits.Address, lp = logp.Address, t = targets.Address;
        void** args = stackalloc void*[] { &l, &lp, &t, &weights, &vocab };
        Launch("token_logprobs.cu", $"token_logprobs_{Suffix(type)}{ScalarSuffix(type, scalar)}", new Dim3(Blocks(n, 1)),
            new Dim3(RowBlock(vocab)), args);
    }

    /// <summary>
    /// Logits and probs F32 or BF16 (the same); uniforms F32, or BF16 like the logits. <paramref name="temperature"/>
    /// must be finite and ≥ 0, <paramref name="topP"/> in (0, 1].
    /// </summary>
    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP)
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, "vocab must be >= 1");
        if (!(temperature >= 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be finite and >= 0");
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), topP, "topP must be in (0, 1]");
        long count = Elements(batch, vocab, nameof(batch), nameof(vocab));
        DType type = StorageType(logits, nameof(logits));
        Expect(logits, type, count, nameof(logits));
        Expect(probs, type, count, nameof(probs));
        DType scalar = RowScalarType(uniforms, type, nameof(uniforms));
        Expect(uniforms, scalar, batch, nameof(uniforms));
        Expect(tokens, DType.I32, batch, nameof(tokens));
        if (batch == 0) return;
        nint tk = tokens.Address, p = probs.Address, l = logits.Address, u = uniforms.Address;
        // The CPU divides by (float)temperature and compares double masses with the double top_p.
        float temp = (float)temperature;
        long topPBits = BitConverter.DoubleToInt64Bits(topP);
        void** args = stackalloc void*[] { &tk, &p, &l, &u, &vocab, &temp, &topPBits };
        uint block = (uint)(vocab >= MaxSampleBlock ? MaxSampleBlock : (vocab + 31) / 32 * 32);
        Launch("sample_top_p.cu", $"sample_top_p_{Suffix(type)}{ScalarSuffix(type, scalar)}", new Dim3(Blocks(batch, 1)),
            new Dim3(block), args);
    }

    // Per-row scalars (logp, weights, uniforms): fp32, or bf16 when the rows are bf16 too.
    private static DType RowScalarType(Tensor tensor, DType rows, string name) =>
        tensor.Type == DType.F32 || tensor.Type == rows
            ? tensor.Type
            : throw new ArgumentException($"{name}: expected F32 or {rows} like the logits, got {tensor.Type}", name);

    private static string ScalarSuffix(DType rows, DType scalar) => rows == DType.BF16 && scalar == DType.BF16 ? "_bf16" : "";
}
