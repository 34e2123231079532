namespace FastSelfReward.Compute;

/// <summary>Shape of a (grouped-query) attention: query heads, key/value heads, head size, score scale.</summary>
public readonly record struct AttentionShape(long Heads, long KvHeads, long HeadDim, double Scale);

/// <summary>Which DPO loss <see cref="IKernels.DpoLoss"/> computes.</summary>
public enum DpoLossKind
{
    /// <summary>-(1-ε) log σ(βh) - ε log σ(-βh) (Rafailov et al.; ε > 0 is conservative DPO).</summary>
    Sigmoid = 0,
    /// <summary>(h - 1/(2β))² (Azar et al., IPO).</summary>
    Ipo = 1,
    /// <summary>(-(1-ε) log σ(βh) + ε log σ(-βh)) / (1 - 2ε) (Chowdhury et al., robust DPO).</summary>
    Robust = 2,
}

/// <summary>One AdamW update's hyperparameters; <see cref="GradScale"/> carries gradient clipping.</summary>
public readonly record struct AdamWStep(double LearningRate, double Beta1, double Beta2, double Epsilon,
    double WeightDecay, double GradScale, long Step);

/// <summary>
/// The one contract between the model and the hardware. Every op is documented with its math in
/// native/cpu/fsr_native.h (the CPU reference) and kernels/&lt;op&gt;.cu (CUDA); shapes are explicit
/// arguments, tensors are views of backend memory. Backward ops accumulate (+=) into parameter
/// gradients and overwrite (=) activation gradients. No op allocates.
/// </summary>
public interface IKernels : IDisposable
{
    /// <summary>Backend name for logs ("cpu", "cuda").</summary>
    string Name { get; }

    /// <summary>One line: device, threads, BLAS, features.</summary>
    string Describe();

    /// <summary>
    /// The storage type a model on this backend uses unless told otherwise: its weights' compute copy,
    /// activations and KV cache. With <see cref="DType.BF16"/> the model also keeps fp32 master weights,
    /// gradients and optimizer moments (mixed precision); see <see cref="DTypes.Wide"/>.
    /// </summary>
    DType ModelType { get; }

    /// <summary>Zero-filled backend memory.</summary>
    DeviceBuffer Allocate(long length, DType type);

    /// <summary>
    /// Waits until every queued op has finished. Ops on an asynchronous backend (CUDA) may return
    /// before the device has run them; downloads wait by themselves, but whoever times ops from the
    /// host must call this before reading the clock.
    /// </summary>
    void Synchronize();

    void Upload(Tensor destination, ReadOnlySpan<float> source);
    void Upload(Tensor destination, ReadOnlySpan<double> source);
    void Upload(Tensor destination, ReadOnlySpan<int> source);
    void Download(Tensor source, Span<float> destination);
    void Download(Tensor source, Span<double> destination);
    void Download(Tensor source, Span<int> destination);
    /// <summary>destination = source (same type and length).</summary>
    void Copy(Tensor destination, Tensor source);
    /// <summary>Sets every element of the view to zero.</summary>
    void Zero(Tensor tensor);
    /// <summary>
    /// destination[i] = source[i] converted to destination's type, for i &lt; count; narrowing rounds to
    /// nearest, ties to even (fp32 master weights → bf16 copies, and back).
    /// </summary>
    void Cast(Tensor destination, Tensor source, long count);

    /// <summary>Row-major C[M,N] = α op(A) op(B) + β C; A is [M,K] ([K,M] if transposed), B is [K,N] ([N,K] if transposed).</summary>
    void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb, double beta, Tensor c, long ldc);

    /// <summary>output[i,:] = table[tokens[i],:].</summary>
    void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim);
    /// <summary>dTable[tokens[i],:] += dOutput[i,:].</summary>
    void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim);

    /// <summary>rstd = 1/√(mean x² + ε); output = x · rstd · weight, per row.</summary>
    void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps);
    /// <summary>dx = ∂/∂x, dWeight += ∂/∂w of RMSNorm.</summary>
    void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim);

    /// <summary>
    /// Rotate-half RoPE in place over [n, heads, headDim]: dimensions i and i + headDim/2 of row r
    /// turn by positions[r] · inverseFrequencies[i] (F64 [headDim/2], <c>Model.RopeFrequencies</c>).
    /// </summary>
    void RopeForward(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim);
    /// <summary>The inverse rotation, applied in place to a gradient.</summary>
    void RopeBackward(Tensor dx, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim);

    /// <summary>Causal grouped-query attention over packed sequences (rows cuSeqlens[b]..cuSeqlens[b+1]); saves lse [n, heads].</summary>
    void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape);
    /// <summary>dq, dk, dv (overwritten) from dOutput, recomputing probabilities from lse.</summary>
    void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape);

    /// <summary>Writes k, v rows [n, kvHeads, headDim] into a paged cache layer at the given slots.</summary>
    void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim);
    /// <summary>One query token per row attending over that row's cached tokens (paged, per-row lengths).</summary>
    void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape);

    /// <summary>output = silu(gate) · up.</summary>
    void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count);
    /// <summary>dGate, dUp (overwritten) of SwiGLU.</summary>
    void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count);

    /// <summary>output = a + b (output may alias an input).</summary>
    void ResidualForward(Tensor output, Tensor a, Tensor b, long count);
    /// <summary>destination += source: the gradient of a residual branch joining the stream.</summary>
    void ResidualBackward(Tensor destination, Tensor source, long count);

    /// <summary>
    /// Fused log-softmax, gather and gradient over a chunk of rows: logp[i] = log softmax(logits[i])[targets[i]]
    /// (0 where the target is negative). With gradWeights, logits is overwritten with ∂(Σ wᵢ logpᵢ)/∂logits.
    /// </summary>
    void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab);

    /// <summary>Per-pair DPO loss and its gradient with respect to the policy's two log-prob sums (the reference is frozen).</summary>
    void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind);

    /// <summary>Decoupled AdamW over count parameters.</summary>
    void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step);

    /// <summary>Σ x², accumulated in double.</summary>
    double SumSquares(Tensor x, long count);

    /// <summary>Temperature / top-p sampling as docs/design.md ("Sampling") defines it; one uniform per row; probs is scratch [batch, vocab].</summary>
    void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP);
}
