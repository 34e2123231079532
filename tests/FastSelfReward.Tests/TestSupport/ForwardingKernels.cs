using FastSelfReward.Compute;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>An <see cref="IKernels"/> that passes every call to another; tests override one op to break it on purpose.</summary>
internal class ForwardingKernels(IKernels inner) : IKernels
{
    protected IKernels Inner => inner;

    public string Name => inner.Name;
    public string Describe() => inner.Describe();
    public DType ModelType => inner.ModelType;
    public DeviceBuffer Allocate(long length, DType type) => inner.Allocate(length, type);
    public void Synchronize() => inner.Synchronize();
    public void Upload(Tensor destination, ReadOnlySpan<float> source) => inner.Upload(destination, source);
    public void Upload(Tensor destination, ReadOnlySpan<double> source) => inner.Upload(destination, source);
    public void Upload(Tensor destination, ReadOnlySpan<int> source) => inner.Upload(destination, source);
    public void Download(Tensor source, Span<float> destination) => inner.Download(source, destination);
    public void Download(Tensor source, Span<double> destination) => inner.Download(source, destination);
    public void Download(Tensor source, Span<int> destination) => inner.Download(source, destination);
    public void Copy(Tensor destination, Tensor source) => inner.Copy(destination, source);
    public void Zero(Tensor tensor) => inner.Zero(tensor);
    public void Cast(Tensor destination, Tensor source, long count) => inner.Cast(destination, source, count);
    public void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb, double beta, Tensor c, long ldc) =>
        inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    public void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim) => inner.EmbeddingForward(output, tokens, table, n, dim);
    public void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim) => inner.EmbeddingBackward(dTable, dOutput, tokens, n, dim);
    public virtual void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps) =>
        inner.RmsNormForward(output, rstd, x, weight, n, dim, eps);
    public void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim) =>
        inner.RmsNormBackward(dx, dWeight, dOutput, x, weight, rstd, n, dim);
    public void RopeForward(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim) =>
        inner.RopeForward(x, positions, inverseFrequencies, n, heads, headDim);
    public void RopeBackward(Tensor dx, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim) =>
        inner.RopeBackward(dx, positions, inverseFrequencies, n, heads, headDim);
    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape) =>
        inner.AttentionForward(output, lse, q, k, v, cuSeqlens, batch, shape);
    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape) => inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, cuSeqlens, batch, shape);
    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim) =>
        inner.KvCacheWrite(kCache, vCache, k, v, slots, n, kvHeads, headDim);
    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape) => inner.DecodeAttention(output, q, kCache, vCache, blockTables, maxBlocks, lengths, batch, blockSize, shape);
    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count) => inner.SwiGluForward(output, gate, up, count);
    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count) => inner.SwiGluBackward(dGate, dUp, dOutput, gate, up, count);
    public void ResidualForward(Tensor output, Tensor a, Tensor b, long count) => inner.ResidualForward(output, a, b, count);
    public void ResidualBackward(Tensor destination, Tensor source, long count) => inner.ResidualBackward(destination, source, count);
    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab) =>
        inner.TokenLogProbs(logits, logp, targets, gradWeights, n, vocab);
    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected, long pairs, double beta, double labelSmoothing,
        DpoLossKind kind) => inner.DpoLoss(loss, gradPolicyChosen, gradPolicyRejected,
        policyChosen, policyRejected, referenceChosen, referenceRejected, pairs, beta, labelSmoothing, kind);
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step) => inner.AdamW(param, grad, m, v, count, step);
    public double SumSquares(Tensor x, long count) => inner.SumSquares(x, count);
    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP) =>
        inner.SampleTopP(tokens, probs, logits, uniforms, batch, vocab, temperature, topP);
    public void Dispose() => inner.Dispose();
}
