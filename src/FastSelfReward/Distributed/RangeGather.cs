using FastSelfReward.Compute;

namespace FastSelfReward.Distributed;

/// <summary>
/// Reads a flat buffer of <c>total</c> elements that the ranks keep in owner ranges (rank r keeps
/// <see cref="DeviceCollectives.OwnerRange"/>), or that every rank keeps whole, onto rank 0, a chunk
/// at a time: no rank holds more than a chunk of what the others keep. A training state is written
/// this way while its ranks hold shards of the optimizer (rank 0 writes the file, the other ranks
/// feed the same reads into nothing).
/// </summary>
/// <remarks>
/// A read of a sharded buffer is a collective: every rank calls <see cref="Read"/> with the same
/// range, in the same order. Each rank puts the part of the range it keeps at its place in a chunk
/// of zeros, the chunks are all-gathered, and rank 0 takes each element from its owner's chunk.
/// A whole buffer is read by rank 0 alone, from its own copy.
/// </remarks>
/// <param name="kernels">The backend that holds <paramref name="kept"/>.</param>
/// <param name="world">The ranks.</param>
/// <param name="kept">What this rank keeps: elements [<paramref name="keptOffset"/>, + its length) of the buffer.</param>
/// <param name="keptOffset">The first element of <paramref name="kept"/>.</param>
/// <param name="total">The buffer's length.</param>
/// <param name="sharded">Whether the ranks keep owner ranges (every rank must say the same); otherwise each keeps the whole buffer.</param>
public sealed class RangeGather(IKernels kernels, Communicator world, Tensor kept, long keptOffset, long total, bool sharded)
{
    private readonly long _rangeLength = DeviceCollectives.RangeLength(total, world.Size);
    private float[] _mine = [], _all = [];

    /// <summary>Elements [<paramref name="from"/>, + <c>destination.Length</c>) into rank 0's <paramref name="destination"/>; other ranks' is left as it is.</summary>
    public void Read(long from, Span<float> destination)
    {
        int count = destination.Length;
        if (from < 0 || from + count > total) throw new ArgumentOutOfRangeException(nameof(from), $"[{from}, {from + count}) is not within the {total} elements");
        if (!sharded)
        {
            if (world.IsRoot) kernels.Download(kept.Slice(from - keptOffset, count), destination);
            return;
        }
        if (_mine.Length < count) (_mine, _all) = (new float[count], new float[(long)count * world.Size]);
        var mine = _mine.AsSpan(0, count);
        mine.Clear();
        long first = Math.Max(from, keptOffset), end = Math.Min(from + count, keptOffset + kept.Length);
        if (end > first) kernels.Download(kept.Slice(first - keptOffset, end - first), mine.Slice((int)(first - from), (int)(end - first)));
        var all = _all.AsSpan(0, count * world.Size);
        world.AllGather(mine, all);
        if (!world.IsRoot) return;
        for (int i = 0; i < count; i++) destination[i] = all[(int)((from + i) / _rangeLength) * count + i];
    }
}
