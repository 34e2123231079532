using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Model;

/// <summary>Decoding through the paged KV cache reproduces the logits of a full forward pass.</summary>
public sealed class KvCacheDecodeTests
{
    [Fact]
    public void DecodingGivesTheLogitsOfAFullForward()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        // Block size 4 with prompts of 5 and 3 tokens: the shared prefix ends inside a block.
        using var cache = new KvCache(kernels, config, DType.F64, blocks: 32, blockSize: 4);
        var prompts = TinyModels.Sequences(config.VocabSize, 21, 5, 3);
        var continuations = TinyModels.Sequences(config.VocabSize, 22, 6, 6, 6);
        // Rows 0 and 1 fork prompt 0; row 2 continues prompt 1.
        int[] promptOf = [0, 0, 1];

        var batch = TokenBatch.Pack(prompts);
        var promptSequences = prompts.Select(_ => cache.NewSequence()).ToArray();
        var slots = new int[batch.Count];
        for (int p = 0; p < prompts.Length; p++) cache.Append(promptSequences[p], prompts[p].Length, slots.AsSpan(batch.CuSeqlens[p]));
        model.Forward(batch, training: false, cache, slots);
        var rows = promptOf.Select(p => cache.Fork(promptSequences[p])).ToArray();
        foreach (var s in promptSequences) cache.Release(s);

        for (int step = 0; step < 6; step++)
        {
            int b = rows.Length, maxBlocks = 4;
            var decode = new DecodeStep(new int[b], new int[b], new int[b], new int[b * maxBlocks], maxBlocks, new int[b]);
            for (int r = 0; r < b; r++)
            {
                decode.Tokens[r] = continuations[r][step];
                decode.Positions[r] = rows[r].Length;
                cache.Append(rows[r], 1, decode.Slots.AsSpan(r, 1));
                cache.FillBlockTable(rows[r], decode.BlockTables.AsSpan(r * maxBlocks, maxBlocks));
                decode.Lengths[r] = rows[r].Length;
            }
            model.Decode(decode, cache);
            var decoded = TinyModels.Download(kernels, model.Logits([0, 1, 2]));

            for (int r = 0; r < b; r++)
            {
                var full = prompts[promptOf[r]].Concat(continuations[r].Take(step + 1)).ToArray();
                using var reference = TinyModels.Create(kernels, config, DType.F64);
                reference.Forward(TokenBatch.Pack([full]), training: false);
                var expected = TinyModels.Download(kernels, reference.Logits([full.Length - 1]));
                for (int v = 0; v < config.VocabSize; v++)
                    Assert.Equal(expected[v], decoded[r * config.VocabSize + v], 1e-10);
            }
        }
        foreach (var row in rows) cache.Release(row);
        Assert.Equal(cache.Blocks, cache.FreeBlocks);
    }

    [Fact]
    public void ForkSharesFullBlocksAndCopiesThePartialOne()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var cache = new KvCache(kernels, config, DType.F32, blocks: 8, blockSize: 4);
        var parent = cache.NewSequence();
        cache.Append(parent, 6, new int[6]);
        Assert.Equal(6, cache.FreeBlocks);
        var child = cache.Fork(parent);
        Assert.Equal(5, cache.FreeBlocks); // one new block: the copy of the half-full second block
        cache.Release(parent);
        Assert.Equal(6, cache.FreeBlocks); // the shared first block is still held by the child
        cache.Release(child);
        Assert.Equal(8, cache.FreeBlocks);
        var hog = cache.NewSequence();
        Assert.Throws<InvalidOperationException>(() => cache.Append(hog, 33, new int[33]));
    }
}
