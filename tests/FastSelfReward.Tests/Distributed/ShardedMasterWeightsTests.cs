using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.Compute.Cuda;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Distributed;

/// <summary>
/// ZeRO-1 in a bf16 model (emulated GPU) on ranks that are threads of this process: each rank keeps its
/// range of the fp32 master weights and none of the rest, and trains the weights a replicated optimizer
/// trains, bit for bit; its states and candidates hold the whole master weights and resume on any number of ranks.
/// </summary>
public sealed class ShardedMasterWeightsTests
{
    private static readonly LlamaConfig Config = TinyModels.Config(vocab: 37) with { HiddenSize = 32, IntermediateSize = 48 };

    // Steps of 4 micro-batches or so, so that each of 3 ranks has work.
    private static readonly LmExample[] Examples =
        [.. TinyModels.Sequences(Config.VocabSize, 5, 9, 14, 5, 12, 7, 16, 11, 6, 13, 8, 10, 15).Select(s => new LmExample(s))];

    private static readonly PretrainOptions Options = new()
    {
        Steps = 6, BatchTokens = 64, MicroBatchTokens = 16, LearningRate = 1e-2, WarmupSteps = 1, CheckpointEvery = 3,
    };

    private sealed record Observed(bool[] MasterWholeWhileTraining, long[] WeightsKept, float[][] ComputeWeights, float[] Final, bool WholeAfter);

    private static float[] Download(IKernels kernels, Tensor tensor) => TinyModels.Download(kernels, tensor).Select(v => (float)v).ToArray();

    /// <summary>Trains <see cref="Options"/>' steps on <paramref name="world"/>, noting after each step what the rank holds.</summary>
    private static Observed Train(Communicator world, bool shard, string? state = null, long stopAfter = long.MaxValue)
    {
        using var gpu = CudaParity.EmulatedGpu(reverse: false);
        using var model = TinyModels.Create(gpu, Config, DType.BF16);
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), Examples, Options, seed: 3, world, shard);
        var whole = new List<bool>();
        var kept = new List<long>();
        var compute = new List<float[]>();
        using var stop = new CancellationTokenSource();
        training.Stepped += report =>
        {
            whole.Add(model.HasParameters);
            kept.Add(training.Optimizer.Weights.Length);
            compute.Add(Download(gpu, model.ComputeWeights));
            if (report.Step == stopAfter) stop.Cancel();
        };
        try
        {
            training.Run(new TrainingOutput { CheckpointPath = state }, stop.Token);
        }
        catch (TrainingInterruptedException)
        {
            return new Observed([.. whole], [.. kept], [.. compute], [], model.HasParameters);
        }
        return new Observed([.. whole], [.. kept], [.. compute], Download(gpu, model.Parameters), model.HasParameters);
    }

    [Theory]
    [InlineData(2)]
    // A parameter count no rank count divides: the last range is short.
    [InlineData(3)]
    public void EachRankKeepsItsRangeOfTheMasterWeightsAndTrainsTheWeightsOfAReplicatedOptimizerBitForBit(int ranks)
    {
        long total = new ParameterLayout(Config).TotalLength;
        if (ranks == 3) Assert.NotEqual(0, total % ranks);
        var sharded = ThreadedWorld.Run(ranks, world => Train(world, shard: true));
        var replicated = ThreadedWorld.Run(ranks, world => Train(world, shard: false));

        for (int r = 0; r < ranks; r++)
        {
            // The whole fp32 master buffer is freed while training; the rank updates its range only.
            Assert.All(sharded[r].MasterWholeWhileTraining, Assert.False);
            Assert.All(sharded[r].WeightsKept, n => Assert.Equal(DeviceCollectives.OwnerRange(r, total, DeviceCollectives.RangeLength(total, ranks)).Count, n));
            Assert.All(replicated[r].MasterWholeWhileTraining, Assert.True);
            Assert.All(replicated[r].WeightsKept, n => Assert.Equal(total, n));
            // The bf16 weights every rank computes with, after every step, and the master weights it ends with.
            Assert.Equal(Options.Steps, sharded[r].ComputeWeights.Length);
            for (int s = 0; s < Options.Steps; s++) Assert.Equal(replicated[r].ComputeWeights[s], sharded[r].ComputeWeights[s]);
            Assert.True(sharded[r].WholeAfter);
            Assert.Equal(replicated[r].Final, sharded[r].Final);
        }
        Assert.Equal(sharded[0].WeightsKept[0] * (ranks - 1) + sharded[ranks - 1].WeightsKept[0], total);
        Assert.NotEqual(sharded[0].ComputeWeights[0], sharded[0].ComputeWeights[^1]);
    }

    [Fact]
    public void AStateWrittenFromShardsHasTheBytesOfOneWrittenByReplicatedOptimizers()
    {
        using var dir = new ScratchFolder();
        string sharded = dir.File("sharded.safetensors"), replicated = dir.File("replicated.safetensors");
        ThreadedWorld.Run(3, world => Train(world, shard: true, world.IsRoot ? sharded : dir.File($"never-{world.Rank}"), stopAfter: 3));
        ThreadedWorld.Run(3, world => Train(world, shard: false, replicated, stopAfter: 3));
        Assert.Equal(File.ReadAllBytes(replicated), File.ReadAllBytes(sharded));
        // Rank 0 alone writes, whatever path the others were given.
        Assert.Empty(Directory.GetFiles(dir.Path, "never-*"));
    }

    [Fact]
    public void ARangeGatherGivesRankZeroAnyRangeOfABufferKeptInOwnerRanges()
    {
        const long total = 1001;
        float Value(long i) => 0.5f + i;
        var read = ThreadedWorld.Run(3, world =>
        {
            using var cpu = new CpuKernels(DType.F32);
            long length = DeviceCollectives.RangeLength(total, world.Size);
            var (from, count) = DeviceCollectives.OwnerRange(world.Rank, total, length);
            using var kept = cpu.Allocate(count, DType.F32);
            cpu.Upload(kept, Enumerable.Range(0, (int)count).Select(i => Value(from + i)).ToArray());
            var gather = new RangeGather(cpu, world, kept, from, total, sharded: true);
            // Within one owner's range, across two, the short last range, and all of it at once.
            return new (long From, int Count)[] { (0, 7), (330, 10), (995, 6), (0, (int)total) }.Select(r =>
            {
                var destination = new float[r.Count];
                gather.Read(r.From, destination);
                return destination;
            }).ToArray();
        });
        Assert.Equal([.. Enumerable.Range(0, 7).Select(i => Value(i))], read[0][0]);
        Assert.Equal([.. Enumerable.Range(330, 10).Select(i => Value(i))], read[0][1]);
        Assert.Equal([.. Enumerable.Range(995, 6).Select(i => Value(i))], read[0][2]);
        Assert.Equal([.. Enumerable.Range(0, (int)total).Select(i => Value(i))], read[0][3]);
        // The other ranks' destinations are left as they were.
        Assert.All(read[1].Concat(read[2]), d => Assert.All(d, v => Assert.Equal(0f, v)));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 3)]
    [InlineData(2, 2)]
    public void AStateOfShardedMasterWeightsHoldsThemWholeAndResumesOnAnyNumberOfRanks(int before, int after)
    {
        using var dir = new ScratchFolder();
        string state = dir.File("state.safetensors");
        var interrupted = ThreadedWorld.Run(before, world => Train(world, shard: true, state, stopAfter: 3));
        Assert.Equal(3, interrupted[0].ComputeWeights.Length);
        Assert.False(interrupted[0].WholeAfter);

        // What was saved: rank 0's master weights gathered whole, in the file as the model's own tensors.
        var saved = ThreadedWorld.Run(after, world =>
        {
            using var gpu = CudaParity.EmulatedGpu(reverse: false);
            using var model = TinyModels.Create(gpu, Config, DType.BF16, seed: 11);
            using var training = TrainingRun.Create(model, new CausalLmObjective(model), Examples, Options, seed: 3, world);
            var restored = TrainingCheckpoint.Load(state, model, training.Optimizer, seed: 3, training.Fingerprint);
            Assert.Equal(3, restored.Step);
            var compute = Download(gpu, model.ComputeWeights);
            using (training.Optimizer.GatherWeightsToRoot())
                return (Master: world.IsRoot ? Download(gpu, model.Parameters) : null, Compute: compute, Whole: model.HasParameters);
        });
        for (int r = 0; r < after; r++)
        {
            // Every rank computes with the bf16 weights the interrupted job computed with at step 3.
            Assert.Equal(interrupted[0].ComputeWeights[2], saved[r].Compute);
            Assert.Equal(after == 1 || r == 0, saved[r].Whole);
        }
        Assert.Equal(interrupted[0].ComputeWeights[2], CudaParity.RoundBf16(saved[0].Master!));

        // The same number of ranks, resumed, ends where an uninterrupted job ends, to the bit.
        if (before == after)
        {
            var resumed = ThreadedWorld.Run(after, world => Train(world, shard: true, state));
            var uninterrupted = ThreadedWorld.Run(after, world => Train(world, shard: true));
            Assert.Equal(uninterrupted[0].Final, resumed[0].Final);
            Assert.Equal(uninterrupted[1].Final, resumed[1].Final);
        }
    }
}
