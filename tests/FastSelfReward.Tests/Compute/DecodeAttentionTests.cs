using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// Decode attention over a paged cache must reproduce the rows of full causal attention: the
/// token at position L−1 of a sequence sees exactly tokens 0..L−1 whatever else is cached.
/// </summary>
public class DecodeAttentionTests
{
    private const int HeadDim = 8, BlockSize = 4, MaxBlocks = 3, CacheBlocks = 8;
    private static readonly AttentionShape Shape = new(Heads: 4, KvHeads: 2, HeadDim, Scale: 1 / Math.Sqrt(HeadDim));
    private static readonly int[] SequenceLengths = [5, 1, 9];
    private static readonly int[] CuSeqlens = [0, 5, 6, 15];
    // Scrambled physical blocks; entries past a row's length are -1 and must never be read.
    private static readonly int[] BlockTables = [6, 2, -1, 3, -1, -1, 7, 1, 5];

    [Theory]
    [InlineData(DType.F32, 2e-6)]
    [InlineData(DType.F64, 1e-13)]
    public void MatchesFullCausalAttentionRows(DType type, double tolerance)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(12);
        int rows = CuSeqlens[^1], qWidth = 4 * HeadDim, kvWidth = 2 * HeadDim;
        double[] q = random.Uniform(rows * qWidth, 2), k = random.Uniform(rows * kvWidth, 2), v = random.Uniform(rows * kvWidth);
        using DeviceBuffer tq = kernels.Floats(q), tk = kernels.Floats(k), tv = kernels.Floats(v), cu = kernels.Ints(CuSeqlens);
        using DeviceBuffer full = kernels.Allocate(rows * qWidth, type), lse = kernels.Allocate(rows * 4, type);
        kernels.AttentionForward(full, lse, tq, tk, tv, cu, SequenceLengths.Length, Shape);
        double[] fullOutput = kernels.Read(full);

        var slots = new int[rows];
        for (int b = 0; b < SequenceLengths.Length; b++)
            for (int t = 0; t < SequenceLengths[b]; t++)
                slots[CuSeqlens[b] + t] = BlockTables[b * MaxBlocks + t / BlockSize] * BlockSize + t % BlockSize;
        using DeviceBuffer kCache = kernels.Allocate(CacheBlocks * BlockSize * kvWidth, type), vCache = kernels.Allocate(CacheBlocks * BlockSize * kvWidth, type);
        using DeviceBuffer tslots = kernels.Ints(slots), tables = kernels.Ints(BlockTables);
        kernels.KvCacheWrite(kCache, vCache, tk, tv, tslots, rows, Shape.KvHeads, HeadDim);

        // Every sequence at its full length, then at shorter lengths with later tokens still cached.
        foreach (int[] lengths in new[] { SequenceLengths, [3, 1, 6] })
        {
            double[] decodeQ = new double[lengths.Length * qWidth], expected = new double[lengths.Length * qWidth];
            for (int b = 0; b < lengths.Length; b++)
            {
                int row = CuSeqlens[b] + lengths[b] - 1;
                Array.Copy(q, row * qWidth, decodeQ, b * qWidth, qWidth);
                Array.Copy(fullOutput, row * qWidth, expected, b * qWidth, qWidth);
            }
            using DeviceBuffer output = kernels.Allocate(decodeQ.Length, type), tdq = kernels.Floats(decodeQ), tlengths = kernels.Ints(lengths);
            kernels.DecodeAttention(output, tdq, kCache, vCache, tables, MaxBlocks, tlengths, lengths.Length, BlockSize, Shape);
            KernelBuffers.AssertClose(expected, kernels.Read(output), tolerance, $"output (lengths {string.Join(",", lengths)})");
        }
    }

    [Fact]
    public void RejectsLengthsAndBlocksOutsideTheCache()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer output = kernels.Allocate(4 * HeadDim, DType.F32), cache = kernels.Allocate(CacheBlocks * BlockSize * 2 * HeadDim, DType.F32);
        using DeviceBuffer tables = kernels.Ints([0, 1, CacheBlocks]), tooLong = kernels.Ints([MaxBlocks * BlockSize + 1]), reachesBadBlock = kernels.Ints([9]);
        Assert.Equal("lengths", Assert.Throws<ArgumentOutOfRangeException>(
            () => kernels.DecodeAttention(output, output, cache, cache, tables, MaxBlocks, tooLong, 1, BlockSize, Shape)).ParamName);
        Assert.Equal("blockTables", Assert.Throws<ArgumentOutOfRangeException>(
            () => kernels.DecodeAttention(output, output, cache, cache, tables, MaxBlocks, reachesBadBlock, 1, BlockSize, Shape)).ParamName);
    }
}
