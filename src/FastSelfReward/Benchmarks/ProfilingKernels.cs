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

/// <summary>
/// An <see cref="IKernels"/> decorator that times every call by op name (and GEMMs also by shape),
/// so a benchmark can say where a step's time goes without any change to the model. Timing a call
/// from the host measures the op because CPU kernels are synchronous; on an asynchronous backend
/// the times would land on whichever call synchronises. Not thread-safe: one caller at a time.
/// </summary>
public sealed class ProfilingKernels(IKernels inner) : IKernels
{
    private readonly Dictionary<string, OpTime> _ops = new(StringComparer.Ordinal);
    private readonly Dictionary<(bool, bool, long, long, long), OpTime> _gemms = [];

    public IKernels Inner => inner;

    /// <summary>Per-op totals since the last reset.</summary>
    public IReadOnlyDictionary<string, OpTime> Ops => _ops;

    /// <summary>Per-GEMM-shape totals (transA, transB, m, n, k) since the last reset.</summary>
    public IReadOnlyDictionary<(bool TransA, bool TransB, long M, long N, long K), OpTime> Gemms => _gemms;

    public void Reset()
    {
        _ops.Clear();
        _gemms.Clear();
    }

    private OpTime Record(string op, long start)
    {
        long elapsed = Stopwatch.GetTimestamp() - start;
        if (!_ops.TryGetValue(op, out var time)) _ops[op] = time = new OpTime();
        time.Calls++;
        time.Ticks += elapsed;
        return time;
    }

    public string Name => inner.Name;
    public string Describe() => inner.Describe();
    public DType ModelType => inner.ModelType;
    public DeviceBuffer Allocate(long length, DType type) => inner.Allocate(length, type);

    public void Upload(Tensor destination, ReadOnlySpan<float> source) { long t = Stopwatch.GetTimestamp(); inner.Upload(destination, source); Record("Upload", t); }
    public void Upload(Tensor destination, ReadOnlySpan<double> source) { long t = Stopwatch.GetTimestamp(); inner.Upload(destination, source); Record("Upload", t); }
    public void Upload(Tensor destination, ReadOnlySpan<int> source) { long t = Stopwatch.GetTimestamp(); inner.Upload(destination, source); Record("Upload", t); }
    public void Download(Tensor source, Span<float> destination) { long t = Stopwatch.GetTimestamp(); inner.Download(source, destination); Record("Download", t); }
    public void Download(Tensor source, Span<double> destination) { long t = Stopwatch.GetTimestamp(); inner.Download(source, destination); Record("Download", t); }
    public void Download(Tensor source, Span<int> destination) { long t = Stopwatch.GetTimestamp(); inner.Download(source, destination); Record("Download", t); }
    public void Copy(Tensor destination, Tensor source) { long t = Stopwatch.GetTimestamp(); inner.Copy(destination, source); Record("Copy", t); }
    public void Zero(Tensor tensor) { long t = Stopwatch.GetTimestamp(); inner.Zero(tensor); Record("Zero", t); }
    public void Cast(Tensor destination, Tensor source, long count) { long t = Stopwatch.GetTimestamp(); inner.Cast(destination, source, count); Record("Cast", t); }

    public void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb, double beta, Tensor c, long ldc)
    {
        long t = Stopwatch.GetTimestamp();
        inner.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        long elapsed = Stopwatch.GetTimestamp() - t;
        Record("Gemm", t).Flops += 2.0 * m * n * k;
        var key = (transA, transB, m, n, k);
        if (!_gemms.TryGetValue(key, out var shape)) _gemms[key] = shape = new OpTime();
        shape.Calls++;
        shape.Ticks += elapsed;
        shape.Flops += 2.0 * m * n * k;
    }

    public void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim)
    { long t = Stopwatch.GetTimestamp(); inner.EmbeddingForward(output, tokens, table, n, dim); Record("EmbeddingForward", t); }
    public void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim)
    { long t = Stopwatch.GetTimestamp(); inner.EmbeddingBackward(dTable, dOutput, tokens, n, dim); Record("EmbeddingBackward", t); }
    public void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps)
    { long t = Stopwatch.GetTimestamp(); inner.RmsNormForward(output, rstd, x, weight, n, dim, eps); Record("RmsNormForward", t); }
    public void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim)
    { long t = Stopwatch.GetTimestamp(); inner.RmsNormBackward(dx, dWeight, dOutput, x, weight, rstd, n, dim); Record("RmsNormBackward", t); }
    public void RopeForward(Tensor x, Tensor positions, long n, long heads, long headDim, double theta)
    { long t = Stopwatch.GetTimestamp(); inner.RopeForward(x, positions, n, heads, headDim, theta); Record("RopeForward", t); }
    public void RopeBackward(Tensor dx, Tensor positions, long n, long heads, long headDim, double theta)
    { long t = Stopwatch.GetTimestamp(); inner.RopeBackward(dx, positions, n, heads, headDim, theta); Record("RopeBackward", t); }

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape)
    { long t = Stopwatch.GetTimestamp(); inner.AttentionForward(output, lse, q, k, v, cuSeqlens, batch, shape); Record("AttentionForward", t); }

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape)
    { long t = Stopwatch.GetTimestamp(); inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, cuSeqlens, batch, shape); Record("AttentionBackward", t); }

    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim)
    { long t = Stopwatch.GetTimestamp(); inner.KvCacheWrite(kCache, vCache, k, v, slots, n, kvHeads, headDim); Record("KvCacheWrite", t); }

    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape)
    { long t = Stopwatch.GetTimestamp(); inner.DecodeAttention(output, q, kCache, vCache, blockTables, maxBlocks, lengths, batch, blockSize, shape); Record("DecodeAttention", t); }

    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count)
    { long t = Stopwatch.GetTimestamp(); inner.SwiGluForward(output, gate, up, count); Record("SwiGluForward", t); }
    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count)
    { long t = Stopwatch.GetTimestamp(); inner.SwiGluBackward(dGate, dUp, dOutput, gate, up, count); Record("SwiGluBackward", t); }
    public void ResidualForward(Tensor output, Tensor a, Tensor b, long count)
    { long t = Stopwatch.GetTimestamp(); inner.ResidualForward(output, a, b, count); Record("ResidualForward", t); }
    public void ResidualBackward(Tensor destination, Tensor source, long count)
    { long t = Stopwatch.GetTimestamp(); inner.ResidualBackward(destination, source, count); Record("ResidualBackward", t); }

    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab)
    { long t = Stopwatch.GetTimestamp(); inner.TokenLogProbs(logits, logp, targets, gradWeights, n, vocab); Record("TokenLogProbs", t); }

    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected, Tensor gradReferenceChosen, Tensor gradReferenceRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind)
    {
        long t = Stopwatch.GetTimestamp();
        inner.DpoLoss(loss, gradPolicyChosen, gradPolicyRejected, gradReferenceChosen, gradReferenceRejected,
            policyChosen, policyRejected, referenceChosen, referenceRejected, pairs, beta, labelSmoothing, kind);
        Record("DpoLoss", t);
    }

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step)
    { long t = Stopwatch.GetTimestamp(); inner.AdamW(param, grad, m, v, count, step); Record("AdamW", t); }

    public double SumSquares(Tensor x, long count)
    { long t = Stopwatch.GetTimestamp(); double s = inner.SumSquares(x, count); Record("SumSquares", t); return s; }
    public void Scale(Tensor x, double s, long count)
    { long t = Stopwatch.GetTimestamp(); inner.Scale(x, s, count); Record("Scale", t); }

    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP)
    { long t = Stopwatch.GetTimestamp(); inner.SampleTopP(tokens, probs, logits, uniforms, batch, vocab, temperature, topP); Record("SampleTopP", t); }

    /// <summary>Disposes nothing: the wrapped backend belongs to the caller.</summary>
    public void Dispose() { }
}
