using FastSelfReward.Compute;

namespace FastSelfReward.Model;

/// <summary>
/// A paged key/value cache: every layer's keys and values live in a pool of fixed-size blocks
/// ([layers][blocks][blockSize][kvHeads][headDim]); a sequence is a list of block ids. Forking a
/// sequence shares its full blocks (reference-counted, never written again since positions only
/// grow) and copies the partly filled last block, so the candidates and judge samples of one prompt
/// reuse its prefilled prefix.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IKernels _kernels;
    private readonly DeviceBuffer _keys;
    private readonly DeviceBuffer _values;
    private readonly int[] _references;
    private readonly Stack<int> _free;
    private readonly long _blockElements;
    private readonly long _layerElements;

    public KvCache(IKernels kernels, LlamaConfig config, DType type, int blocks, int blockSize = 16)
    {
        if (blocks <= 0 || blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blocks), "a KV cache needs at least one block of one token");
        _kernels = kernels;
        Layers = config.NumHiddenLayers;
        KvHeads = config.KvHeads;
        HeadDim = config.HeadDim;
        Blocks = blocks;
        BlockSize = blockSize;
        _blockElements = (long)blockSize * KvHeads * HeadDim;
        _layerElements = _blockElements * blocks;
        _keys = kernels.Allocate(_layerElements * Layers, type);
        _values = kernels.Allocate(_layerElements * Layers, type);
        _references = new int[blocks];
        _free = new Stack<int>(Enumerable.Range(0, blocks).Reverse());
    }

    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int Blocks { get; }
    public int BlockSize { get; }

    /// <summary>Blocks not held by any sequence.</summary>
    public int FreeBlocks => _free.Count;

    /// <summary>Blocks a sequence of this many tokens occupies.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>The key pool of one layer, [blocks, blockSize, kvHeads, headDim].</summary>
    public Tensor Keys(int layer) => _keys.Slice(layer * _layerElements, _layerElements);

    /// <summary>The value pool of one layer.</summary>
    public Tensor Values(int layer) => _values.Slice(layer * _layerElements, _layerElements);

    /// <summary>An empty sequence.</summary>
    public KvSequence NewSequence() => new();

    /// <summary>
    /// Reserves the next <paramref name="count"/> positions of a sequence and writes their cache
    /// slots (block * blockSize + offset) to <paramref name="slots"/>.
    /// </summary>
    public void Append(KvSequence sequence, int count, Span<int> slots)
    {
        ObjectDisposedException.ThrowIf(sequence.Released, sequence);
        for (int i = 0; i < count; i++)
        {
            int position = sequence.Length + i;
            if (position / BlockSize == sequence.BlockIds.Count) sequence.BlockIds.Add(Take());
            slots[i] = sequence.BlockIds[position / BlockSize] * BlockSize + position % BlockSize;
        }
        sequence.Length += count;
    }

    /// <summary>A new sequence with the same cached tokens; shares full blocks, copies the partial one.</summary>
    public KvSequence Fork(KvSequence parent)
    {
        ObjectDisposedException.ThrowIf(parent.Released, parent);
        var child = new KvSequence { Length = parent.Length };
        int full = parent.Length / BlockSize;
        for (int b = 0; b < full; b++)
        {
            child.BlockIds.Add(parent.BlockIds[b]);
            _references[parent.BlockIds[b]]++;
        }
        if (parent.Length % BlockSize != 0)
        {
            int source = parent.BlockIds[full], copy = Take();
            for (int layer = 0; layer < Layers; layer++)
            {
                _kernels.Copy(Keys(layer).Slice(copy * _blockElements, _blockElements), Keys(layer).Slice(source * _blockElements, _blockElements));
                _kernels.Copy(Values(layer).Slice(copy * _blockElements, _blockElements), Values(layer).Slice(source * _blockElements, _blockElements));
            }
            child.BlockIds.Add(copy);
        }
        return child;
    }

    /// <summary>Returns a sequence's blocks to the pool (shared blocks when their last holder leaves).</summary>
    public void Release(KvSequence sequence)
    {
        if (sequence.Released) return;
        foreach (int block in sequence.BlockIds)
            if (--_references[block] == 0) _free.Push(block);
        sequence.BlockIds.Clear();
        sequence.Released = true;
    }

    /// <summary>Writes a sequence's block ids into one row of a block table (unused entries 0).</summary>
    public void FillBlockTable(KvSequence sequence, Span<int> row)
    {
        if (sequence.BlockIds.Count > row.Length)
            throw new ArgumentException($"block table row of {row.Length} entries cannot hold {sequence.BlockIds.Count} blocks");
        row.Clear();
        for (int i = 0; i < sequence.BlockIds.Count; i++) row[i] = sequence.BlockIds[i];
    }

    private int Take()
    {
        if (!_free.TryPop(out int block))
            throw new InvalidOperationException($"KV cache full: all {Blocks} blocks of {BlockSize} tokens are in use");
        _references[block] = 1;
        return block;
    }

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}

/// <summary>One sequence's cached tokens: its length and the blocks holding them, in order.</summary>
public sealed class KvSequence
{
    internal List<int> BlockIds { get; } = [];
    internal bool Released { get; set; }

    /// <summary>Cached tokens.</summary>
    public int Length { get; internal set; }
}
