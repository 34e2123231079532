namespace FastSelfReward.Compute.Cuda;

// Attention (kernels/attention.cu), the KV cache write (kernels/kv_cache.cu) and decode attention
// (kernels/decode_attention.cu). Row offsets, lengths, block tables and slots live on the device;
// reading them back would stall the stream on every call, so, as with token ids, they are the
// caller's to get right (the engine builds them and CpuKernels checks the same values), and the
// grids are sized from the tensors' extents.
public sealed unsafe partial class CudaKernels
{
    // 4 warps per block in every attention kernel; the query and key tile sizes match attention.cu.
    private const int AttentionBlock = 128;
    private const long ForwardQueryTile = 32, DqQueryTile = 16, TensorCoreQueryTile = 64;
    private const int MaxAttentionHeadDim = 128;

    /// <summary>attention_tc.cu's key and value tiles: 2 × 64 rows of the padded head_dim plus 8 bf16 elements.</summary>
    private static int TensorCoreTileBytes(int paddedHeadDim) => 2 * 64 * (paddedHeadDim + 8) * sizeof(ushort);

    /// <summary>
    /// q, k, v, output F32 or BF16 (the same); lse F32. head_dim up to 128. bf16 with head_dim above 32
    /// runs on tensor cores (kernels/attention_tc.cu), forward and backward; fp32, and bf16 up to 32, on
    /// FMA (kernels/attention.cu).
    /// </summary>
    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, long batch, AttentionShape shape)
    {
        DType type = StorageType(q, nameof(q));
        long rows = AttentionRows(shape, batch, cuSeqlens, type, (q, true, nameof(q)), (output, true, nameof(output)),
            (k, false, nameof(k)), (v, false, nameof(v)));
        rows = Math.Min(rows, lse.Length / shape.Heads);
        Expect(lse, DType.F32, rows * shape.Heads, nameof(lse));
        if (rows == 0 || batch == 0) return;
        (int h, int kvh, int hd, float scale) = AttentionArguments(shape);
        nint o = output.Address, l = lse.Address, qq = q.Address, kk = k.Address, vv = v.Address, cu = cuSeqlens.Address;
        void** args = stackalloc void*[] { &o, &l, &qq, &kk, &vv, &cu, &batch, &h, &kvh, &hd, &scale };
        int padded = PaddedHeadDim(hd);
        if (type == DType.BF16 && padded >= 64)
        {
            Launch("attention_tc.cu", $"attention_forward_tc_bf16_{padded}",
                new Dim3(QueryTiles(rows, batch, TensorCoreQueryTile), (uint)h), new Dim3(AttentionBlock), args, TensorCoreTileBytes(padded));
            return;
        }
        Launch("attention.cu", $"attention_forward_{Suffix(type)}_{padded}",
            new Dim3(QueryTiles(rows, batch, ForwardQueryTile), (uint)h), new Dim3(AttentionBlock), args);
    }

    /// <summary>
    /// dq, dk, dv overwritten; all F32 or BF16 like q, lse F32. Deterministic: dk and dv of a key tile and
    /// dq of a query tile are each summed by one block in a fixed order (two kernels, no atomics).
    /// </summary>
    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v,
        Tensor cuSeqlens, long batch, AttentionShape shape)
    {
        DType type = StorageType(q, nameof(q));
        long rows = AttentionRows(shape, batch, cuSeqlens, type, (q, true, nameof(q)), (output, true, nameof(output)),
            (dOutput, true, nameof(dOutput)), (dq, true, nameof(dq)), (k, false, nameof(k)), (v, false, nameof(v)),
            (dk, false, nameof(dk)), (dv, false, nameof(dv)));
        rows = Math.Min(rows, lse.Length / shape.Heads);
        Expect(lse, DType.F32, rows * shape.Heads, nameof(lse));
        if (rows == 0 || batch == 0) return;
        (int h, int kvh, int hd, float scale) = AttentionArguments(shape);
        int padded = PaddedHeadDim(hd);
        nint dqa = dq.Address, dka = dk.Address, dva = dv.Address, g = dOutput.Address, o = output.Address, l = lse.Address;
        nint qq = q.Address, kk = k.Address, vv = v.Address, cu = cuSeqlens.Address;
        void** dqArgs = stackalloc void*[] { &dqa, &g, &o, &l, &qq, &kk, &vv, &cu, &batch, &h, &kvh, &hd, &scale };
        if (type == DType.BF16 && padded >= 64)
            Launch("attention_tc.cu", $"attention_backward_dq_tc_bf16_{padded}",
                new Dim3(QueryTiles(rows, batch, TensorCoreQueryTile), (uint)h), new Dim3(AttentionBlock), dqArgs, TensorCoreTileBytes(padded));
        else
            Launch("attention.cu", $"attention_backward_dq_{Suffix(type)}_{padded}",
                new Dim3(QueryTiles(rows, batch, DqQueryTile), (uint)h), new Dim3(AttentionBlock), dqArgs);
        void** kvArgs = stackalloc void*[] { &dka, &dva, &g, &o, &l, &qq, &kk, &vv, &cu, &batch, &h, &kvh, &hd, &scale };
        if (type == DType.BF16 && padded >= 64)
        {
            // Besides the key and value tiles, Q and dout tiles of 32 queries (16 at head_dim 128) and their D and lse.
            int queries = padded == MaxAttentionHeadDim ? 16 : 32;
            Launch("attention_tc.cu", $"attention_backward_dkdv_tc_bf16_{padded}", new Dim3(QueryTiles(rows, batch, TensorCoreQueryTile), (uint)kvh),
                new Dim3(AttentionBlock), kvArgs, TensorCoreTileBytes(padded) + TensorCoreTileBytes(padded) * queries / 64 + 2 * queries * sizeof(float));
            return;
        }
        long keyTile = padded == MaxAttentionHeadDim ? 16 : 32;
        Launch("attention.cu", $"attention_backward_dkdv_{Suffix(type)}_{padded}",
            new Dim3(QueryTiles(rows, batch, keyTile), (uint)kvh), new Dim3(AttentionBlock), kvArgs);
    }

    /// <summary>Caches, k and v all F32 or BF16; slots I32 (negative: skipped).</summary>
    public void KvCacheWrite(Tensor kCache, Tensor vCache, Tensor k, Tensor v, Tensor slots, long n, long kvHeads, long headDim)
    {
        if (kvHeads < 1) throw new ArgumentOutOfRangeException(nameof(kvHeads), kvHeads, "kvHeads must be >= 1");
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "headDim must be >= 1");
        long width = checked(kvHeads * headDim);
        long count = Elements(n, width, nameof(n), nameof(kvHeads));
        DType type = StorageType(k, nameof(k));
        Expect(k, type, count, nameof(k));
        Expect(v, type, count, nameof(v));
        Expect(kCache, type, width, nameof(kCache));
        Expect(vCache, type, width, nameof(vCache));
        Expect(slots, DType.I32, n, nameof(slots));
        if (n == 0) return;
        nint kc = kCache.Address, vc = vCache.Address, kk = k.Address, vv = v.Address, s = slots.Address;
        void** args = stackalloc void*[] { &kc, &vc, &kk, &vv, &s, &width };
        Launch("kv_cache.cu", $"kv_cache_write_{Suffix(type)}", new Dim3(Blocks(n, 1)), new Dim3(AttentionBlock), args);
    }

    /// <summary>q, caches, output F32 or BF16 (the same); blockTables and lengths I32. head_dim up to 128.</summary>
    public void DecodeAttention(Tensor output, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTables, long maxBlocks, Tensor lengths,
        long batch, long blockSize, AttentionShape shape)
    {
        CheckAttentionShape(shape);
        NonNegative(batch, nameof(batch));
        NonNegative(maxBlocks, nameof(maxBlocks));
        if (blockSize < 1) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "blockSize must be >= 1");
        DType type = StorageType(q, nameof(q));
        long qCount = checked(batch * shape.Heads * shape.HeadDim);
        Expect(q, type, qCount, nameof(q));
        Expect(output, type, qCount, nameof(output));
        long blockWidth = checked(blockSize * shape.KvHeads * shape.HeadDim);
        Expect(kCache, type, blockWidth, nameof(kCache));
        Expect(vCache, type, blockWidth, nameof(vCache));
        Expect(blockTables, DType.I32, checked(batch * maxBlocks), nameof(blockTables));
        Expect(lengths, DType.I32, batch, nameof(lengths));
        if (batch == 0) return;
        (int h, int kvh, int hd, float scale) = AttentionArguments(shape);
        nint o = output.Address, qq = q.Address, kc = kCache.Address, vc = vCache.Address, t = blockTables.Address, len = lengths.Address;
        int bs = Int(blockSize, nameof(blockSize));
        void** args = stackalloc void*[] { &o, &qq, &kc, &vc, &t, &maxBlocks, &len, &h, &kvh, &hd, &bs, &scale };
        if (batch > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"{batch} exceeds one launch's grid");
        Launch("decode_attention.cu", $"decode_attention_{Suffix(type)}_{PaddedHeadDim(hd)}", new Dim3((uint)batch, (uint)h),
            new Dim3(AttentionBlock), args);
    }

    private static void CheckAttentionShape(AttentionShape shape)
    {
        if (shape.Heads < 1 || shape.KvHeads < 1 || shape.HeadDim < 1)
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "Heads, KvHeads and HeadDim must be >= 1");
        if (shape.Heads % shape.KvHeads != 0)
            throw new ArgumentException($"shape: Heads = {shape.Heads} is not a multiple of KvHeads = {shape.KvHeads}", nameof(shape));
        if (shape.HeadDim > MaxAttentionHeadDim)
            throw new ArgumentOutOfRangeException(nameof(shape), shape.HeadDim, $"CUDA attention supports HeadDim up to {MaxAttentionHeadDim}");
        if (shape.Heads > 65535) throw new ArgumentOutOfRangeException(nameof(shape), shape.Heads, "Heads exceeds a grid's y extent (65535)");
    }

    /// <summary>
    /// Checks the shape, the types and that every tensor holds whole rows; returns the rows all of
    /// them can hold, an upper bound of cu_seqlens[batch] (which stays on the device).
    /// </summary>
    private static long AttentionRows(AttentionShape shape, long batch, Tensor cuSeqlens, DType type,
        params ReadOnlySpan<(Tensor Tensor, bool QueryHeads, string Name)> tensors)
    {
        CheckAttentionShape(shape);
        NonNegative(batch, nameof(batch));
        Expect(cuSeqlens, DType.I32, checked(batch + 1), nameof(cuSeqlens));
        long rows = long.MaxValue;
        foreach (var (tensor, queryHeads, name) in tensors)
        {
            if (tensor.Type != type) throw new ArgumentException($"{name}: expected {type} like q, got {tensor.Type}", name);
            rows = Math.Min(rows, tensor.Length / checked((queryHeads ? shape.Heads : shape.KvHeads) * shape.HeadDim));
        }
        foreach (var (tensor, queryHeads, name) in tensors)
            Expect(tensor, type, checked(rows * (queryHeads ? shape.Heads : shape.KvHeads) * shape.HeadDim), name);
        return rows;
    }

    private static (int Heads, int KvHeads, int HeadDim, float Scale) AttentionArguments(AttentionShape shape) =>
        ((int)shape.Heads, (int)shape.KvHeads, (int)shape.HeadDim, (float)shape.Scale);

    // The width each entry point is compiled for; dimensions past head_dim are padding.
    private static int PaddedHeadDim(int headDim) => headDim <= 32 ? 32 : headDim <= 64 ? 64 : MaxAttentionHeadDim;

    // Tiles of `tile` rows counted per sequence number at most ceil(rows / tile) + batch (one
    // partial tile per sequence); the blocks past the real count return at once.
    private static uint QueryTiles(long rows, long batch, long tile) => Blocks(checked(rows + batch * tile), tile);
}
