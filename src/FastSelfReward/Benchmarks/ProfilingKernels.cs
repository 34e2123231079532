using System.Diagnostics;
using FastSelfReward.Compute;

namespace FastSelfReward.Benchmarks;

/// <summary>Wall time and calls of one op (or one GEMM shape) since the last <see cref="ProfilingKernels.Reset"/>.</summary>
public sealed class OpTime
{
    public long Calls { get; internal set; }
    public long Ticks { get; internal set; }
    /// <summary>Multiply-adds × 2, for GEMM shapes; 0 otherwise.</summary>
    public double Flops { get; internal set; }
    public double Seconds => (double)Ticks / Stopwatch.Frequency;
}

/// <summary>One GEMM as a model calls it: row-major C[M,N] = op(A) op(B), with the types of A, B and C.</summary>
public readonly record struct GemmShape(bool TransA, bool TransB, long M, long N, long K, DType A, DType B, DType C)
{
    /// <summary>2·M·N·K.</summary>
    public double Flops => 2.0 * M * N * K;

    /// <summary>"MxNxK NT F32", or "MxNxK NT BF16,BF16->F32" when the types differ.</summary>
    public override string ToString() =>
        $"{M}x{N}x{K} {(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')} " + (A == B && B == C ? $"{A}" : $"{A},{B}->{C}");
}

/// <summary>
/// An <see cref="IKernels"/> decorator that times every call by op name (and GEMMs also by shape),
/// so a benchmark can say where a step's time goes without any change to the model. A host clock
/// measures an op only if the op has finished when the clock is read: true of the CPU kernels, not
/// of an asynchronous backend, whose times would land on whichever call happens to wait. There,
/// <see cref="SynchronizeEachOp"/> makes every call wait for the device before and after the op,
/// at the price of an idle device between ops. Not thread-safe: one caller at a time.
/// </summary>
public sealed class ProfilingKernels(IKernels inner) : IKernels
{
    private readonly Dictionary<string, OpTime> _ops = new(StringComparer.Ordinal);
    private readonly Dictionary<GemmShape, OpTime> _gemms = [];

    public IKernels Inner => inner;

    /// <summary>Whether each call waits for the device before it starts its clock and before it stops it.</summary>
    public bool SynchronizeEachOp { get; set; }

    /// <summary>Per-op totals since the last reset.</summary>
    public IReadOnlyDictionary<string, OpTime> Ops => _ops;

    /// <summary>Per-GEMM-shape totals since the last reset.</summary>
    public IReadOnlyDictionary<GemmShape, OpTime> Gemms => _gemms;

    public void Reset()
    {
        _ops.Clear();
        _gemms.Clear();
    }

    private long Begin()
    {
        if (SynchronizeEachOp) inner.Synchronize();
        return Stopwatch.GetTimestamp();
    }

    private long End(string op, long start)
    {
        if (SynchronizeEachOp) inner.Synchronize();
        long elapsed = Stopwatch.GetTimestamp() - start;
        if (!_ops.TryGetValue(op, out var time)) _ops[op] = time = new OpTime();
        time.Calls++;
        time.Ticks += elapsed;
        return elapsed;
    }

    public string Name => inner.Name;
    public string Describe() => inner.Describe();
    public DType ModelType => inner.ModelType;
    public DeviceBuffer Allocate(long length, DType type) => inner.Allocate(length, type);
    public void Synchronize() => inner.Synchronize();

    public void Upload(Tensor destination, ReadOnlySpan<float> source) { long t = Begin(); inner.Upload(destination, source); End("Upload", t); }
    public void Upload(Tensor destination, ReadOnlySpan<double> source) { long t = Begin(); inner.Upload(destination, source); End("Upload", t); }
    public void Upload(Tensor destination, ReadOnlySpan<int> source) { long t = Begin(); inner.Upload(destination, source); End("Upload", t); }
    public void Download(Tensor source, Span<float> destination) { long t = Begin(); inner.Download(source, destination); End("Download", t); }
    public void Download(Tensor source, Span<double> destination) { long t = Begin(); inner.Download(source, destination); End("Download", t); }
    public void Download(Tensor source, Span<int> destination) { long t = Begin(); inner.Download(source, destination); End("Download", t); }
    public void Copy(Tensor destination, Tensor source) { long t = Begin(); inner.Copy(destination, source); End("Copy", t); }
    public void Zero(Tensor tensor) { long t = Begin(); inner.Zero(tensor); End("Zero", t); }
    public void Cast(Tensor destination, Tensor source, long count) { long t = Begin(); inner.Cast(destination, source, count); End("Cast", t); }

    public void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb, double beta, Tensor c, long ldc)
    {
        long t = Begin();
        inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        long elapsed = End("Gemm", t);
        var key = new GemmShape(transA, transB, m, n, k, a.Type, b.Type, c.Type);
        _ops["Gemm"].Flops += key.Flops;
        if (!_gemms.TryGetValue(key, out var shape)) _gemms[key] = shape = new OpTime();
        shape.Calls++;
        shape.Ticks += elapsed;
        shape.Flops += key.Flops;
    }

    public void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim)
    { long t = Begin(); inner.EmbeddingForward(output, tokens, table, n, dim); End("EmbeddingForward", t); }
    public void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim)
    { long t = Begin(); inner.EmbeddingBackward(dTable, dOutput, tokens, n, dim); End("EmbeddingBackward", t); }
    public void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps)
    { long t = Begin(); inner.RmsNormForward(output, rstd, x, weight, n, dim, eps); End("RmsNormForward", t); }
    public void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim)
    { long t = Begin(); inner.RmsNormBackward(dx, dWeight, dOutput, x, weight, rstd, n, dim); End("RmsNormBackward", t); }
    public void RopeForward(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim)
    { long t = Begin(); inner.RopeForward(x, positions, inverseFrequencies, n, heads, headDim); End("RopeForward", t); }
    public void RopeBackward(Tensor dx, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim)
    { long t = Begin(); inner.RopeBackward(dx, positions, inverseFrequencies, n, heads, headDim); End("RopeBackward", t); }

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape)
    { long t = Begin(); inner.AttentionForward(output, lse, q, k, v, cuSeqlens, batch, shape); End("AttentionForward", t); }

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape)
    { long t = Begin(); inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, cuSeqlens, batch, shape); End("AttentionBackward", t); }

    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim)
    { long t = Begin(); inner.KvCacheWrite(kCache, vCache, k, v, slots, n, kvHeads, headDim); End("KvCacheWrite", t); }

    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape)
    { long t = Begin(); inner.DecodeAttention(output, q, kCache, vCache, blockTables, maxBlocks, lengths, batch, blockSize, shape); End("DecodeAttention", t); }

    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count)
    { long t = Begin(); inner.SwiGluForward(output, gate, up, count); End("SwiGluForward", t); }
    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count)
    { long t = Begin(); inner.SwiGluBackward(dGate, dUp, dOutput, gate, up, count); End("SwiGluBackward", t); }
    public void ResidualForward(Tensor output, Tensor a, Tensor b, long count)
    { long t = Begin(); inner.ResidualForward(output, a, b, count); End("ResidualForward", t); }
    public void ResidualBackward(Tensor destination, Tensor source, long count)
    { long t = Begin(); inner.ResidualBackward(destination, source, count); End("ResidualBackward", t); }

    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab)
    { long t = Begin(); inner.TokenLogProbs(logits, logp, targets, gradWeights, n, vocab); End("TokenLogProbs", t); }

    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind)
    {
        long t = Begin();
        inner.DpoLoss(loss, gradPolicyChosen, gradPolicyRejected,
            policyChosen, policyRejected, referenceChosen, referenceRejected, pairs, beta, labelSmoothing, kind);
        End("DpoLoss", t);
    }

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step)
    { long t = Begin(); inner.AdamW(param, grad, m, v, count, step); End("AdamW", t); }

    public double SumSquares(Tensor x, long count)
    { long t = Begin(); double s = inner.SumSquares(x, count); End("SumSquares", t); return s; }

    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP)
    { long t = Begin(); inner.SampleTopP(tokens, probs, logits, uniforms, batch, vocab, temperature, topP); End("SampleTopP", t); }

    /// <summary>Disposes nothing: the wrapped backend belongs to the caller.</summary>
    public void Dispose() { }
}
