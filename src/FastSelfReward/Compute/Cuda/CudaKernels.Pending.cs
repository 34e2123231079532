namespace FastSelfReward.Compute.Cuda;

// The IKernels ops that have no CUDA kernel yet (issue 8). Each op moves out of this file into
// CudaKernels.<Family>.cs when its kernels/<op>.cu lands; when the file is empty it goes.
public sealed unsafe partial class CudaKernels
{
    public void RopeForward(Tensor x, Tensor positions, long n, long heads, long headDim, double theta) => throw NotYet(nameof(RopeForward));
    public void RopeBackward(Tensor dx, Tensor positions, long n, long heads, long headDim, double theta) => throw NotYet(nameof(RopeBackward));

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape) =>
        throw NotYet(nameof(AttentionForward));

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape) => throw NotYet(nameof(AttentionBackward));

    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim) =>
        throw NotYet(nameof(KvCacheWrite));

    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape) => throw NotYet(nameof(DecodeAttention));

    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count) => throw NotYet(nameof(SwiGluForward));
    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count) => throw NotYet(nameof(SwiGluBackward));

    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab) =>
        throw NotYet(nameof(TokenLogProbs));

    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected, Tensor gradReferenceChosen, Tensor gradReferenceRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind) => throw NotYet(nameof(DpoLoss));

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step) => throw NotYet(nameof(AdamW));
    public double SumSquares(Tensor x, long count) => throw NotYet(nameof(SumSquares));
    public void Scale(Tensor x, double s, long count) => throw NotYet(nameof(Scale));

    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP) =>
        throw NotYet(nameof(SampleTopP));

    private static NotSupportedException NotYet(string op) =>
        new($"CUDA backend: {op} is not implemented yet; it arrives with {IssueOfMissingOps}. Use --device cpu meanwhile.");

}
