using FastSelfReward.Compute;
using FastSelfReward.Training;

namespace FastSelfReward.Distributed;

/// <summary>One collective checked: its name, whether this rank's result was right, and what was compared.</summary>
public sealed record CollectiveResult(string Name, bool Passed, string Detail);

/// <summary>
/// Checks every collective of a <see cref="Communicator"/> against values each rank can work out
/// alone: every rank's input is a known function of its rank, so the expected result, summed in
/// rank order in the same floating-point type, is exact, and a sum taken in another order shows
/// as a bit difference (the inputs are chosen so that order changes the rounding). Buffer lengths
/// are not multiples of the rank count, and one is large enough to cross a chunk when
/// <c>FSR_MPI_CHUNK_ELEMENTS</c> is small. Every rank runs every check, in the same order.
/// </summary>
public static class CollectiveCheck
{
    private static readonly int[] Lengths = [1, 1001, 65_539];

    public static List<CollectiveResult> Run(Communicator world)
    {
        var results = new List<CollectiveResult>();
        world.Barrier();
        results.Add(new CollectiveResult("barrier", true, $"{world.Size} ranks"));
        results.Add(Broadcast(world));
        foreach (int length in Lengths)
        {
            results.Add(AllReduceFloat(world, length));
            results.Add(AllReduceDouble(world, length));
            results.Add(ReduceScatter(world, length));
            results.Add(AllGather(world, length));
        }
        return results;
    }

    /// <summary>
    /// The backend's sums of its own buffers (<see cref="IDeviceCollectives"/>): MPI through host
    /// memory must give the rank-order sum bit for bit; NCCL, which sums in an order of its own, to
    /// 1e-6 relative.
    /// </summary>
    public static List<CollectiveResult> RunOnDevice(IKernels kernels, IDeviceCollectives collectives, Communicator world)
    {
        bool exact = collectives is HostStagedCollectives;
        string how = exact ? "MPI via host" : "NCCL";
        var results = new List<CollectiveResult>();
        foreach (int length in Lengths)
        {
            long range = (length + world.Size - 1) / world.Size;
            using var buffer = kernels.Allocate(length, DType.F32);
            var values = new float[length];

            for (int i = 0; i < length; i++) values[i] = Input(world.Rank, i);
            kernels.Upload(buffer, values);
            collectives.AllReduceSum(buffer);
            kernels.Download(buffer, values);
            int bad = Enumerable.Range(0, length).Count(i => !Close(values[i], SumInRankOrder(world.Size, i), exact));
            results.Add(new CollectiveResult($"device all-reduce ({how}) × {length}", bad == 0, $"{bad} elements off the sum in rank order"));

            for (int i = 0; i < length; i++) values[i] = Input(world.Rank, i);
            kernels.Upload(buffer, values);
            collectives.ReduceToOwners(buffer, range);
            kernels.Download(buffer, values);
            long from = Math.Min(length, world.Rank * range), to = Math.Min(length, from + range);
            bad = 0;
            for (long i = from; i < to; i++) if (!Close(values[i], SumInRankOrder(world.Size, i), exact)) bad++;
            results.Add(new CollectiveResult($"device reduce to owners ({how}) × {length}", bad == 0, $"{bad} elements of this rank's range off the sum"));

            for (int i = 0; i < length; i++) values[i] = i / range == world.Rank ? world.Rank * 1_000_000f + i : -1;
            kernels.Upload(buffer, values);
            collectives.BroadcastFromOwners(buffer, range);
            kernels.Download(buffer, values);
            bad = Enumerable.Range(0, length).Count(i => values[i] != (i / range) * 1_000_000f + i);
            results.Add(new CollectiveResult($"device broadcast from owners ({how}) × {length}", bad == 0, $"{bad} elements not their owner's"));
        }
        return results;
    }

    /// <summary>
    /// Training through the backend's sums: a tiny model of the backend's own precision takes three
    /// AdamW steps with its optimizer summing and gathering through <paramref name="collectives"/> as
    /// ZeRO-1 over a job of one (the gradient reduced to its owner, the parameters, or in bf16 the
    /// master weights' bf16 copy, broadcast from it), and three steps without. Over one rank a sum is
    /// a copy, so the weights must agree bit for bit, whichever library sums.
    /// </summary>
    public static CollectiveResult TrainingSteps(IKernels kernels, IDeviceCollectives collectives)
    {
        string how = collectives is HostStagedCollectives ? "MPI via host" : "NCCL";
        LmExample[] batch = TrainingParity.TinyBatch();
        (float[] Master, float[] Compute) Train(IDeviceCollectives? through)
        {
            using var model = TrainingParity.TinyModel(kernels);
            using var optimizer = new AdamWOptimizer(model, new AdamWOptions { WeightDecay = 0.1 }, Communicator.Single, shard: true, through);
            var objective = new CausalLmObjective(model);
            for (int step = 0; step < 3; step++)
            {
                model.ZeroGradients();
                objective.AccumulateGradients(batch, batch.Sum(objective.LossWeight));
                optimizer.Update(1e-2);
            }
            optimizer.GatherWeights();
            var master = new float[model.Parameters.View.Length];
            var compute = new float[model.ComputeWeights.Length];
            kernels.Download(model.Parameters, master);
            kernels.Download(model.ComputeWeights, compute);
            return (master, compute);
        }
        string name = $"training steps through {how} (ZeRO-1 over one rank, {kernels.ModelType} model)";
        try
        {
            var (expected, actual) = (Train(null), Train(collectives));
            int bad = Enumerable.Range(0, expected.Master.Length).Count(i => BitConverter.SingleToInt32Bits(expected.Master[i]) != BitConverter.SingleToInt32Bits(actual.Master[i]))
                      + Enumerable.Range(0, expected.Compute.Length).Count(i => BitConverter.SingleToInt32Bits(expected.Compute[i]) != BitConverter.SingleToInt32Bits(actual.Compute[i]));
            return new CollectiveResult(name, bad == 0, $"{bad} weights differ from three steps without collectives");
        }
        catch (Exception e)
        {
            return new CollectiveResult(name, false, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static bool Close(float actual, float expected, bool exact) => exact
        ? BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected)
        : Math.Abs(actual - expected) <= 1e-6 * Math.Abs(expected);

    /// <summary>A value whose sums over ranks round differently in different orders: one large term per element and small ones.</summary>
    private static float Input(int rank, long index) => rank == (int)(index % 3) ? 1e8f + index : 0.75f + rank * 0.125f + (index % 7) * 1e-3f;

    private static float SumInRankOrder(int size, long index)
    {
        float sum = Input(0, index);
        for (int r = 1; r < size; r++) sum += Input(r, index);
        return sum;
    }

    private static CollectiveResult Broadcast(Communicator world)
    {
        var bytes = new byte[1003];
        int root = world.Size - 1;
        if (world.Rank == root) for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 7 + 1);
        world.Broadcast(bytes, root);
        int bad = Enumerable.Range(0, bytes.Length).Count(i => bytes[i] != (byte)(i * 7 + 1));
        return new CollectiveResult("broadcast", bad == 0, $"{bytes.Length} bytes from rank {root}, {bad} wrong");
    }

    private static CollectiveResult AllReduceFloat(Communicator world, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = Input(world.Rank, i);
        world.AllReduceSum(values);
        int bad = Enumerable.Range(0, length).Count(i => BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(SumInRankOrder(world.Size, i)));
        return new CollectiveResult($"all-reduce f32 × {length}", bad == 0, $"{bad} elements differ from the sum in rank order");
    }

    private static CollectiveResult AllReduceDouble(Communicator world, int length)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++) values[i] = 1e16 * (world.Rank == i % 2 ? 1 : 0) + world.Rank + 0.5 + i;
        world.AllReduceSum(values);
        int bad = 0;
        for (int i = 0; i < length; i++)
        {
            double sum = 1e16 * (0 == i % 2 ? 1 : 0) + 0.5 + i;
            for (int r = 1; r < world.Size; r++) sum += 1e16 * (r == i % 2 ? 1 : 0) + r + 0.5 + i;
            if (BitConverter.DoubleToInt64Bits(values[i]) != BitConverter.DoubleToInt64Bits(sum)) bad++;
        }
        return new CollectiveResult($"all-reduce f64 × {length}", bad == 0, $"{bad} elements differ from the sum in rank order");
    }

    private static CollectiveResult ReduceScatter(Communicator world, int shard)
    {
        var input = new float[(long)shard * world.Size];
        for (long i = 0; i < input.Length; i++) input[i] = Input(world.Rank, i);
        var output = new float[shard];
        world.ReduceScatterSum(input, output);
        long offset = (long)world.Rank * shard;
        int bad = Enumerable.Range(0, shard).Count(i => BitConverter.SingleToInt32Bits(output[i]) != BitConverter.SingleToInt32Bits(SumInRankOrder(world.Size, offset + i)));
        return new CollectiveResult($"reduce-scatter f32 × {shard} per rank", bad == 0, $"{bad} elements differ from the sum in rank order");
    }

    private static CollectiveResult AllGather(Communicator world, int shard)
    {
        var input = new float[shard];
        for (int i = 0; i < shard; i++) input[i] = world.Rank * 1_000_000f + i;
        var output = new float[(long)shard * world.Size];
        world.AllGather(input, output);
        long bad = 0;
        for (long i = 0; i < output.Length; i++)
            if (output[i] != (i / shard) * 1_000_000f + i % shard) bad++;
        return new CollectiveResult($"all-gather f32 × {shard} per rank", bad == 0, $"{bad} elements not their rank's");
    }
}
