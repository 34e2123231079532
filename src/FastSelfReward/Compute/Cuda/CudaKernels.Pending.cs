namespace FastSelfReward.Compute.Cuda;

// The IKernels ops that have no CUDA kernel yet (issue 8). Each op moves out of this file into
// CudaKernels.<Family>.cs when its kernels/<op>.cu lands; when the file is empty it goes.
public sealed unsafe partial class CudaKernels
{
    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape) =>
        throw NotYet(nameof(AttentionForward));

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape) => throw NotYet(nameof(AttentionBackward));

    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim) =>
        throw NotYet(nameof(KvCacheWrite));

    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape) => throw NotYet(nameof(DecodeAttention));

    private static NotSupportedException NotYet(string op) =>
        new($"CUDA backend: {op} is not implemented yet; it arrives with {IssueOfMissingOps}. Use --device cpu meanwhile.");

}
