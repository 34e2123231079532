using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using FastSelfReward.Interop;

namespace FastSelfReward.Compute;

/// <summary>
/// <see cref="IKernels"/> on the CPU: libfsr_native's C++ kernels (OpenMP, GEMM in a BLAS) over
/// host memory. One instance computes in one floating type: <see cref="DType.F32"/> for training
/// and generation, <see cref="DType.F64"/> for gradient checks by finite differences.
/// </summary>
/// <remarks>
/// Native code trusts its arguments, so every op checks, before the call, that each tensor has the
/// expected type and holds every element the shape arguments make the kernel touch, and that every
/// index the kernel dereferences (token ids, targets, row offsets, cache slots, block tables) is in
/// range; a violation throws an <see cref="ArgumentException"/> naming the argument. Indices are
/// read on the host, which is free here because CPU tensors are host memory. A <see cref="Tensor"/>
/// is trusted to describe memory that exists: views made by <see cref="Allocate"/> and
/// <see cref="Tensor.Slice(long, long)"/> always do.
/// </remarks>
public sealed unsafe class CpuKernels : IKernels
{
    // The alignment docs/design.md requires of every buffer: wide enough for any SIMD load and for the
    // CUDA backend's offsets, so layouts computed for one backend hold on the other.
    private const nuint Alignment = 256;

    private readonly bool _f64;

    /// <summary>Creates a backend computing in <paramref name="floatType"/> (F32 or F64).</summary>
    public CpuKernels(DType floatType = DType.F32)
    {
        if (floatType is not (DType.F32 or DType.F64))
            throw new ArgumentException($"floatType: expected F32 or F64, got {floatType}", nameof(floatType));
        FloatType = floatType;
        _f64 = floatType == DType.F64;
    }

    /// <summary>The type of every floating-point tensor the ops take.</summary>
    public DType FloatType { get; }

    public string Name => "cpu";

    /// <summary>Models on the CPU compute in <see cref="FloatType"/> (there is no bf16 CPU kernel).</summary>
    public DType ModelType => FloatType;

    /// <summary>OpenMP threads the kernels use. Process-wide: it applies to every instance.</summary>
    public static int Threads
    {
        get => FsrNative.fsr_get_num_threads();
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            FsrNative.fsr_set_num_threads(value);
        }
    }

    /// <summary>libfsr_native's own description: BLAS in use, OpenMP threads, CPU features compiled for.</summary>
    public string Describe()
    {
        byte[] buffer = new byte[256];
        long length;
        fixed (byte* p = buffer) length = FsrNative.fsr_info(p, buffer.Length);
        if (length >= buffer.Length)
        {
            buffer = new byte[length + 1];
            fixed (byte* p = buffer) length = FsrNative.fsr_info(p, buffer.Length);
        }
        return Encoding.UTF8.GetString(buffer, 0, (int)Math.Min(length, buffer.Length - 1));
    }

    /// <summary>Returns at once: every CPU op has finished when its call returns.</summary>
    public void Synchronize() { }

    /// <summary>Zero-filled host memory aligned to 256 bytes.</summary>
    public DeviceBuffer Allocate(long length, DType type)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        nuint bytes = checked((nuint)(length * type.Size()));
        void* memory = NativeMemory.AlignedAlloc(bytes, Alignment);
        NativeMemory.Clear(memory, bytes);
        return new DeviceBuffer((nint)memory, length, type, static address => NativeMemory.AlignedFree((void*)address));
    }

    /// <summary>Copies <paramref name="source"/> to the start of an F32 or F64 tensor, converting to its type.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<float> source) => Put(destination, source);

    /// <summary>Copies <paramref name="source"/> to the start of an F32 or F64 tensor, converting to its type.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<double> source) => Put(destination, source);

    /// <summary>Copies <paramref name="source"/> to the start of an I32 tensor.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<int> source) =>
        source.CopyTo(HostSpan<int>(destination, DType.I32, source.Length, nameof(destination)));

    /// <summary>Fills <paramref name="destination"/> from the start of an F32 or F64 tensor, converting from its type.</summary>
    public void Download(Tensor source, Span<float> destination) => Get(source, destination);

    /// <summary>Fills <paramref name="destination"/> from the start of an F32 or F64 tensor, converting from its type.</summary>
    public void Download(Tensor source, Span<double> destination) => Get(source, destination);

    private void Put<T>(Tensor destination, ReadOnlySpan<T> source) where T : unmanaged, INumberBase<T>
    {
        switch (destination.Type)
        {
            case DType.F32: Convert(source, HostSpan<float>(destination, DType.F32, source.Length, nameof(destination))); break;
            case DType.F64: Convert(source, HostSpan<double>(destination, DType.F64, source.Length, nameof(destination))); break;
            default: throw new ArgumentException($"destination: cannot hold {typeof(T).Name} values as {destination.Type}", nameof(destination));
        }
    }

    private void Get<T>(Tensor source, Span<T> destination) where T : unmanaged, INumberBase<T>
    {
        switch (source.Type)
        {
            case DType.F32: Convert<float, T>(HostSpan<float>(source, DType.F32, destination.Length, nameof(source)), destination); break;
            case DType.F64: Convert<double, T>(HostSpan<double>(source, DType.F64, destination.Length, nameof(source)), destination); break;
            default: throw new ArgumentException($"source: {source.Type} values cannot be read as {typeof(T).Name}", nameof(source));
        }
    }

    /// <summary>to[i] = from[i], rounded to nearest when narrowing double to float; a plain copy when the types agree.</summary>
    private static void Convert<TFrom, TTo>(ReadOnlySpan<TFrom> from, Span<TTo> to) where TFrom : unmanaged, INumberBase<TFrom>
        where TTo : unmanaged, INumberBase<TTo>
    {
        if (typeof(TFrom) == typeof(TTo))
        {
            MemoryMarshal.Cast<TFrom, TTo>(from).CopyTo(to);
            return;
        }
        for (int i = 0; i < from.Length; i++) to[i] = TTo.CreateTruncating(from[i]);
    }

    /// <summary>Fills <paramref name="destination"/> from the start of an I32 tensor.</summary>
    public void Download(Tensor source, Span<int> destination) =>
        HostSpan<int>(source, DType.I32, destination.Length, nameof(source)).CopyTo(destination);

    public void Copy(Tensor destination, Tensor source)
    {
        if (destination.Type != source.Type || destination.Length != source.Length)
            throw new ArgumentException(
                $"destination: expected {source.Type}[{source.Length}] like source, got {destination.Type}[{destination.Length}]",
                nameof(destination));
        Buffer.MemoryCopy((void*)source.Address, (void*)destination.Address, destination.Bytes, source.Bytes);
    }

    public void Zero(Tensor tensor) => NativeMemory.Clear((void*)tensor.Address, checked((nuint)tensor.Bytes));

    /// <summary>Between F32 and F64 (or a copy within one of them): the CPU backend stores no bf16.</summary>
    public void Cast(Tensor destination, Tensor source, long count)
    {
        NonNegative(count, nameof(count));
        int length = checked((int)count);
        switch (source.Type, destination.Type)
        {
            case (DType.F32, DType.F64):
            {
                var from = HostSpan<float>(source, DType.F32, length, nameof(source));
                var to = HostSpan<double>(destination, DType.F64, length, nameof(destination));
                for (int i = 0; i < length; i++) to[i] = from[i];
                break;
            }
            case (DType.F64, DType.F32):
            {
                var from = HostSpan<double>(source, DType.F64, length, nameof(source));
                var to = HostSpan<float>(destination, DType.F32, length, nameof(destination));
                for (int i = 0; i < length; i++) to[i] = (float)from[i];
                break;
            }
            case (DType.F32, DType.F32) or (DType.F64, DType.F64):
                Copy(destination.Slice(0, count), source.Slice(0, count));
                break;
            default:
                throw new ArgumentException($"destination: cannot cast {source.Type} to {destination.Type} on the CPU", nameof(destination));
        }
    }

    public void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb,
        double beta, Tensor c, long ldc)
    {
        NonNegative(m, nameof(m));
        NonNegative(n, nameof(n));
        NonNegative(k, nameof(k));
        Matrix(a, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        Matrix(b, transB ? n : k, transB ? k : n, ldb, nameof(b), nameof(ldb));
        Matrix(c, m, n, ldc, nameof(c), nameof(ldc));
        int ta = transA ? 1 : 0, tb = transB ? 1 : 0;
        if (_f64) FsrNative.fsr_gemm_f64(ta, tb, m, n, k, alpha, D(a), lda, D(b), ldb, beta, D(c), ldc);
        else FsrNative.fsr_gemm_f32(ta, tb, m, n, k, (float)alpha, F(a), lda, F(b), ldb, (float)beta, F(c), ldc);
    }

    public void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        Floats(output, count, nameof(output));
        Indices(tokens, n, Rows(table, dim, nameof(table), nameof(dim)), nameof(tokens), "rows of table");
        if (_f64) FsrNative.fsr_embedding_forward_f64(D(output), I(tokens), D(table), n, dim);
        else FsrNative.fsr_embedding_forward_f32(F(output), I(tokens), F(table), n, dim);
    }

    public void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        Floats(dOutput, count, nameof(dOutput));
        Indices(tokens, n, Rows(dTable, dim, nameof(dTable), nameof(dim)), nameof(tokens), "rows of dTable");
        if (_f64) FsrNative.fsr_embedding_backward_f64(D(dTable), D(dOutput), I(tokens), n, dim);
        else FsrNative.fsr_embedding_backward_f32(F(dTable), F(dOutput), I(tokens), n, dim);
    }

    public void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        Floats(output, count, nameof(output));
        Floats(rstd, n, nameof(rstd));
        Floats(x, count, nameof(x));
        Floats(weight, dim, nameof(weight));
        if (_f64) FsrNative.fsr_rmsnorm_forward_f64(D(output), D(rstd), D(x), D(weight), n, dim, eps);
        else FsrNative.fsr_rmsnorm_forward_f32(F(output), F(rstd), F(x), F(weight), n, dim, eps);
    }

    public void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        Floats(dx, count, nameof(dx));
        Floats(dWeight, dim, nameof(dWeight));
        Floats(dOutput, count, nameof(dOutput));
        Floats(x, count, nameof(x));
        Floats(weight, dim, nameof(weight));
        Floats(rstd, n, nameof(rstd));
        if (_f64) FsrNative.fsr_rmsnorm_backward_f64(D(dx), D(dWeight), D(dOutput), D(x), D(weight), D(rstd), n, dim);
        else FsrNative.fsr_rmsnorm_backward_f32(F(dx), F(dWeight), F(dOutput), F(x), F(weight), F(rstd), n, dim);
    }

    public void RopeForward(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim)
    {
        CheckRope(x, positions, inverseFrequencies, n, heads, headDim, nameof(x));
        if (_f64) FsrNative.fsr_rope_forward_f64(D(x), I(positions), D(inverseFrequencies), n, heads, headDim);
        else FsrNative.fsr_rope_forward_f32(F(x), I(positions), D(inverseFrequencies), n, heads, headDim);
    }

    public void RopeBackward(Tensor dx, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim)
    {
        CheckRope(dx, positions, inverseFrequencies, n, heads, headDim, nameof(dx));
        if (_f64) FsrNative.fsr_rope_backward_f64(D(dx), I(positions), D(inverseFrequencies), n, heads, headDim);
        else FsrNative.fsr_rope_backward_f32(F(dx), I(positions), D(inverseFrequencies), n, heads, headDim);
    }

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape)
    {
        CheckShape(shape);
        long rows = PackedRows(cuSeqlens, batch);
        long qCount = checked(rows * shape.Heads * shape.HeadDim), kvCount = checked(rows * shape.KvHeads * shape.HeadDim);
        Floats(output, qCount, nameof(output));
        Floats(lse, checked(rows * shape.Heads), nameof(lse));
        Floats(q, qCount, nameof(q));
        Floats(k, kvCount, nameof(k));
        Floats(v, kvCount, nameof(v));
        (long h, long kvh, long hd, double scale) = shape;
        if (_f64) FsrNative.fsr_attention_forward_f64(D(output), D(lse), D(q), D(k), D(v), I(cuSeqlens), batch, h, kvh, hd, scale);
        else FsrNative.fsr_attention_forward_f32(F(output), F(lse), F(q), F(k), F(v), I(cuSeqlens), batch, h, kvh, hd, scale);
    }

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape)
    {
        CheckShape(shape);
        long rows = PackedRows(cuSeqlens, batch);
        long qCount = checked(rows * shape.Heads * shape.HeadDim), kvCount = checked(rows * shape.KvHeads * shape.HeadDim);
        Floats(dq, qCount, nameof(dq));
        Floats(dk, kvCount, nameof(dk));
        Floats(dv, kvCount, nameof(dv));
        Floats(dOutput, qCount, nameof(dOutput));
        Floats(output, qCount, nameof(output));
        Floats(lse, checked(rows * shape.Heads), nameof(lse));
        Floats(q, qCount, nameof(q));
        Floats(k, kvCount, nameof(k));
        Floats(v, kvCount, nameof(v));
        (long h, long kvh, long hd, double scale) = shape;
        if (_f64)
            FsrNative.fsr_attention_backward_f64(D(dq), D(dk), D(dv), D(dOutput), D(output), D(lse), D(q), D(k), D(v),
                I(cuSeqlens), batch, h, kvh, hd, scale);
        else
            FsrNative.fsr_attention_backward_f32(F(dq), F(dk), F(dv), F(dOutput), F(output), F(lse), F(q), F(k), F(v),
                I(cuSeqlens), batch, h, kvh, hd, scale);
    }

    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim)
    {
        Positive(kvHeads, nameof(kvHeads));
        Positive(headDim, nameof(headDim));
        long tokenWidth = checked(kvHeads * headDim);
        long count = Elements(n, tokenWidth, nameof(n), nameof(kvHeads));
        Floats(k, count, nameof(k));
        Floats(v, count, nameof(v));
        long capacity = Math.Min(Rows(kCache, tokenWidth, nameof(kCache), nameof(kvHeads)), Rows(vCache, tokenWidth, nameof(vCache), nameof(kvHeads)));
        Indices(slots, n, capacity, nameof(slots), "token slots of the cache");
        if (_f64) FsrNative.fsr_kv_cache_write_f64(D(kCache), D(vCache), D(k), D(v), I(slots), n, kvHeads, headDim);
        else FsrNative.fsr_kv_cache_write_f32(F(kCache), F(vCache), F(k), F(v), I(slots), n, kvHeads, headDim);
    }

    /// <remarks>Every length must be in [1, maxBlocks · blockSize] (the row's current token is cached).</remarks>
    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape)
    {
        CheckShape(shape);
        NonNegative(batch, nameof(batch));
        Positive(blockSize, nameof(blockSize));
        NonNegative(maxBlocks, nameof(maxBlocks));
        long qCount = checked(batch * shape.Heads * shape.HeadDim);
        Floats(output, qCount, nameof(output));
        Floats(q, qCount, nameof(q));
        long blockWidth = checked(blockSize * shape.KvHeads * shape.HeadDim);
        long blocks = Math.Min(Rows(kCache, blockWidth, nameof(kCache), nameof(blockSize)), Rows(vCache, blockWidth, nameof(vCache), nameof(blockSize)));
        Check(blockTables, DType.I32, checked(batch * maxBlocks), nameof(blockTables));
        Check(lengths, DType.I32, batch, nameof(lengths));
        var rowLengths = new ReadOnlySpan<int>((void*)lengths.Address, checked((int)batch));
        var table = new ReadOnlySpan<int>((void*)blockTables.Address, checked((int)(batch * maxBlocks)));
        long maxLength = checked(maxBlocks * blockSize);
        for (int r = 0; r < rowLengths.Length; r++)
        {
            int length = rowLengths[r];
            if (length < 1 || length > maxLength)
                throw new ArgumentOutOfRangeException(nameof(lengths), $"lengths[{r}] = {length} is outside [1, {maxLength}] (maxBlocks · blockSize)");
            long used = (length + blockSize - 1) / blockSize;
            for (long j = 0; j < used; j++)
            {
                int block = table[(int)(r * maxBlocks + j)];
                if (block < 0 || block >= blocks)
                    throw new ArgumentOutOfRangeException(nameof(blockTables),
                        $"blockTables[{r}, {j}] = {block} is outside [0, {blocks}) (blocks of the cache)");
            }
        }
        (long h, long kvh, long hd, double scale) = shape;
        if (_f64)
            FsrNative.fsr_decode_attention_f64(D(output), D(q), D(kCache), D(vCache), I(blockTables), maxBlocks, I(lengths),
                batch, h, kvh, hd, blockSize, scale);
        else
            FsrNative.fsr_decode_attention_f32(F(output), F(q), F(kCache), F(vCache), I(blockTables), maxBlocks, I(lengths),
                batch, h, kvh, hd, blockSize, scale);
    }

    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count)
    {
        NonNegative(count, nameof(count));
        Floats(output, count, nameof(output));
        Floats(gate, count, nameof(gate));
        Floats(up, count, nameof(up));
        if (_f64) FsrNative.fsr_swiglu_forward_f64(D(output), D(gate), D(up), count);
        else FsrNative.fsr_swiglu_forward_f32(F(output), F(gate), F(up), count);
    }

    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count)
    {
        NonNegative(count, nameof(count));
        Floats(dGate, count, nameof(dGate));
        Floats(dUp, count, nameof(dUp));
        Floats(dOutput, count, nameof(dOutput));
        Floats(gate, count, nameof(gate));
        Floats(up, count, nameof(up));
        if (_f64) FsrNative.fsr_swiglu_backward_f64(D(dGate), D(dUp), D(dOutput), D(gate), D(up), count);
        else FsrNative.fsr_swiglu_backward_f32(F(dGate), F(dUp), F(dOutput), F(gate), F(up), count);
    }

    public void ResidualForward(Tensor output, Tensor a, Tensor b, long count)
    {
        NonNegative(count, nameof(count));
        Floats(output, count, nameof(output));
        Floats(a, count, nameof(a));
        Floats(b, count, nameof(b));
        if (_f64) FsrNative.fsr_residual_forward_f64(D(output), D(a), D(b), count);
        else FsrNative.fsr_residual_forward_f32(F(output), F(a), F(b), count);
    }

    public void ResidualBackward(Tensor destination, Tensor source, long count)
    {
        NonNegative(count, nameof(count));
        Floats(destination, count, nameof(destination));
        Floats(source, count, nameof(source));
        if (_f64) FsrNative.fsr_residual_backward_f64(D(destination), D(source), count);
        else FsrNative.fsr_residual_backward_f32(F(destination), F(source), count);
    }

    /// <remarks>Every target must be below <paramref name="vocab"/>; negative targets mark masked rows.</remarks>
    public void TokenLogProbs(Tensor logits, Tensor logp, Tensor targets, Tensor? gradWeights, long n, long vocab)
    {
        Positive(vocab, nameof(vocab));
        Floats(logits, Elements(n, vocab, nameof(n), nameof(vocab)), nameof(logits));
        Floats(logp, n, nameof(logp));
        Check(targets, DType.I32, n, nameof(targets));
        var ids = new ReadOnlySpan<int>((void*)targets.Address, checked((int)n));
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] >= vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), $"targets[{i}] = {ids[i]} is not below vocab = {vocab}");
        nint weights = 0;
        if (gradWeights is Tensor w) weights = Floats(w, n, nameof(gradWeights)).Address;
        if (_f64) FsrNative.fsr_token_logprobs_f64(D(logits), D(logp), I(targets), (double*)weights, n, vocab);
        else FsrNative.fsr_token_logprobs_f32(F(logits), F(logp), I(targets), (float*)weights, n, vocab);
    }

    /// <remarks><paramref name="beta"/> must be positive and <paramref name="labelSmoothing"/> in [0, 0.5).</remarks>
    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind)
    {
        NonNegative(pairs, nameof(pairs));
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        if (!(beta > 0) || double.IsInfinity(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be positive and finite");
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "labelSmoothing must be in [0, 0.5)");
        Floats(loss, pairs, nameof(loss));
        Floats(gradPolicyChosen, pairs, nameof(gradPolicyChosen));
        Floats(gradPolicyRejected, pairs, nameof(gradPolicyRejected));
        Floats(policyChosen, pairs, nameof(policyChosen));
        Floats(policyRejected, pairs, nameof(policyRejected));
        Floats(referenceChosen, pairs, nameof(referenceChosen));
        Floats(referenceRejected, pairs, nameof(referenceRejected));
        if (_f64)
            FsrNative.fsr_dpo_loss_f64(D(loss), D(gradPolicyChosen), D(gradPolicyRejected),
                D(policyChosen), D(policyRejected), D(referenceChosen), D(referenceRejected), pairs, beta, labelSmoothing, (int)kind);
        else
            FsrNative.fsr_dpo_loss_f32(F(loss), F(gradPolicyChosen), F(gradPolicyRejected),
                F(policyChosen), F(policyRejected), F(referenceChosen), F(referenceRejected), pairs, beta, labelSmoothing, (int)kind);
    }

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step)
    {
        NonNegative(count, nameof(count));
        // Bias correction divides by 1 - β^step, which is zero before the first step.
        if (step.Step < 1) throw new ArgumentOutOfRangeException(nameof(step), step.Step, "step.Step counts from 1");
        Floats(param, count, nameof(param));
        Floats(grad, count, nameof(grad));
        Floats(m, count, nameof(m));
        Floats(v, count, nameof(v));
        if (_f64)
            FsrNative.fsr_adamw_f64(D(param), D(grad), D(m), D(v), count, step.LearningRate, step.Beta1, step.Beta2, step.Epsilon,
                step.WeightDecay, step.GradScale, step.Step);
        else
            FsrNative.fsr_adamw_f32(F(param), F(grad), F(m), F(v), count, step.LearningRate, step.Beta1, step.Beta2, step.Epsilon,
                step.WeightDecay, step.GradScale, step.Step);
    }

    public double SumSquares(Tensor x, long count)
    {
        NonNegative(count, nameof(count));
        Floats(x, count, nameof(x));
        return _f64 ? FsrNative.fsr_sum_squares_f64(D(x), count) : FsrNative.fsr_sum_squares_f32(F(x), count);
    }

    /// <remarks><paramref name="temperature"/> must be finite and ≥ 0, <paramref name="topP"/> in (0, 1].</remarks>
    public void SampleTopP(Tensor tokens, Tensor probs, Tensor logits, Tensor uniforms, long batch, long vocab, double temperature, double topP)
    {
        Positive(vocab, nameof(vocab));
        if (!(temperature >= 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be finite and >= 0");
        // top_p = 0 would keep no token at all.
        if (!(topP > 0 && topP <= 1)) throw new ArgumentOutOfRangeException(nameof(topP), topP, "topP must be in (0, 1]");
        long count = Elements(batch, vocab, nameof(batch), nameof(vocab));
        Check(tokens, DType.I32, batch, nameof(tokens));
        Floats(probs, count, nameof(probs));
        Floats(logits, count, nameof(logits));
        Floats(uniforms, batch, nameof(uniforms));
        if (_f64) FsrNative.fsr_sample_top_p_f64(I(tokens), D(probs), D(logits), D(uniforms), batch, vocab, temperature, topP);
        else FsrNative.fsr_sample_top_p_f32(I(tokens), F(probs), F(logits), F(uniforms), batch, vocab, temperature, topP);
    }

    /// <summary>Nothing to release: each <see cref="DeviceBuffer"/> frees its own memory.</summary>
    public void Dispose() { }

    private static float* F(Tensor t) => (float*)t.Address;
    private static double* D(Tensor t) => (double*)t.Address;
    private static int* I(Tensor t) => (int*)t.Address;

    private Tensor Floats(Tensor tensor, long length, string name) => Check(tensor, FloatType, length, name);

    private static Tensor Check(Tensor tensor, DType type, long length, string name)
    {
        tensor.Expect(type, length, name);
        if (length > 0 && tensor.Address == 0) throw new ArgumentException($"{name}: null address", name);
        return tensor;
    }

    private static Span<T> HostSpan<T>(Tensor tensor, DType type, int length, string name) where T : unmanaged =>
        new((void*)Check(tensor, type, length, name).Address, length);

    private static void NonNegative(long value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= 0");
    }

    private static void Positive(long value, string name)
    {
        if (value < 1) throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= 1");
    }

    private static long Elements(long rows, long width, string rowsName, string widthName)
    {
        NonNegative(rows, rowsName);
        NonNegative(width, widthName);
        return checked(rows * width);
    }

    /// <summary>Whole rows of <paramref name="width"/> elements a floating tensor holds.</summary>
    private long Rows(Tensor tensor, long width, string name, string widthName)
    {
        Positive(width, widthName);
        Floats(tensor, 0, name);
        return tensor.Length / width;
    }

    /// <summary>Checks a row-major matrix view: rows × cols elements with row stride ld ≥ cols.</summary>
    private void Matrix(Tensor tensor, long rows, long cols, long ld, string name, string ldName)
    {
        // BLAS requires ld ≥ max(1, cols) even for empty matrices.
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"{ldName} must be >= max(1, {cols}), the row width of {name}");
        Floats(tensor, rows == 0 || cols == 0 ? 0 : checked((rows - 1) * ld + cols), name);
    }

    /// <summary>Checks that <paramref name="count"/> I32 indices are each in [0, bound).</summary>
    private static void Indices(Tensor indices, long count, long bound, string name, string boundName)
    {
        Check(indices, DType.I32, count, name);
        var values = new ReadOnlySpan<int>((void*)indices.Address, checked((int)count));
        for (int i = 0; i < values.Length; i++)
            if (values[i] < 0 || values[i] >= bound)
                throw new ArgumentOutOfRangeException(name, $"{name}[{i}] = {values[i]} is outside [0, {bound}) ({boundName})");
    }

    private static void CheckShape(AttentionShape shape)
    {
        Positive(shape.Heads, "shape.Heads");
        Positive(shape.KvHeads, "shape.KvHeads");
        Positive(shape.HeadDim, "shape.HeadDim");
        if (shape.Heads % shape.KvHeads != 0)
            throw new ArgumentException($"shape: Heads = {shape.Heads} is not a multiple of KvHeads = {shape.KvHeads}", nameof(shape));
    }

    /// <summary>Validates row offsets (0 first, non-decreasing) and returns the packed row count.</summary>
    private static long PackedRows(Tensor cuSeqlens, long batch)
    {
        NonNegative(batch, nameof(batch));
        Check(cuSeqlens, DType.I32, checked(batch + 1), nameof(cuSeqlens));
        var offsets = new ReadOnlySpan<int>((void*)cuSeqlens.Address, checked((int)(batch + 1)));
        if (offsets[0] != 0) throw new ArgumentException($"cuSeqlens[0] = {offsets[0]}, expected 0", nameof(cuSeqlens));
        for (int b = 0; b < batch; b++)
            if (offsets[b + 1] < offsets[b])
                throw new ArgumentException($"cuSeqlens[{b + 1}] = {offsets[b + 1]} is below cuSeqlens[{b}] = {offsets[b]}", nameof(cuSeqlens));
        return offsets[(int)batch];
    }

    private void CheckRope(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim, string name)
    {
        Positive(heads, nameof(heads));
        Positive(headDim, nameof(headDim));
        // Rotate-half pairs dimension i with i + headDim/2.
        if (headDim % 2 != 0) throw new ArgumentException($"headDim: expected an even size, got {headDim}", nameof(headDim));
        Floats(x, Elements(n, checked(heads * headDim), nameof(n), nameof(heads)), name);
        Check(positions, DType.I32, n, nameof(positions));
        Check(inverseFrequencies, DType.F64, headDim / 2, nameof(inverseFrequencies));
    }
}
