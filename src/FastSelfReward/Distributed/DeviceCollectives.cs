using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Interop;

namespace FastSelfReward.Distributed;

/// <summary>
/// Sums over ranks of buffers that live on the backend (gradients, parameters), as the optimizer
/// needs them. A buffer of T elements is cut into ranges of S = ⌈T/N⌉, range r (the last one
/// shorter) owned by rank r. Every rank calls every method in the same order with the same sizes.
/// </summary>
public interface IDeviceCollectives : IDisposable
{
    /// <summary>In place: every element becomes its sum over the ranks.</summary>
    void AllReduceSum(Tensor buffer);

    /// <summary>Rank r's range of <paramref name="buffer"/> becomes the sum over ranks of that range; the other ranges are left unspecified.</summary>
    void ReduceToOwners(Tensor buffer, long rangeLength);

    /// <summary>Every rank's range r of <paramref name="buffer"/> becomes rank r's.</summary>
    void BroadcastFromOwners(Tensor buffer, long rangeLength);
}

/// <summary>Chooses how a backend's buffers are summed over ranks, and where each rank's range lies.</summary>
public static class DeviceCollectives
{
    /// <summary>S = ⌈<paramref name="total"/>/<paramref name="ranks"/>⌉, the length of every range but the last.</summary>
    public static long RangeLength(long total, int ranks) => (total + ranks - 1) / ranks;

    /// <summary>Rank <paramref name="rank"/>'s range of a buffer of <paramref name="total"/> elements: [From, From + Count), empty past the end.</summary>
    public static (long From, long Count) OwnerRange(int rank, long total, long rangeLength)
    {
        long from = Math.Min(total, rank * rangeLength);
        return (from, Math.Min(total, from + rangeLength) - from);
    }

    /// <summary>
    /// NCCL on a real GPU when libnccl.so.2 loads; otherwise (the CPU, the emulated GPU, a GPU without
    /// NCCL) MPI on host copies. Null for a job of one rank.
    /// </summary>
    /// <param name="kernels">The backend whose buffers are summed.</param>
    /// <param name="world">The ranks.</param>
    /// <param name="evenAlone">Also for a job of one rank (the self-test's, so a single GPU still exercises NCCL).</param>
    public static IDeviceCollectives? For(IKernels kernels, Communicator world, bool evenAlone = false)
    {
        if (world.Size == 1 && !evenAlone) return null;
        if (kernels is CudaKernels { Device: RealCudaDevice device } && NcclCollectives.Available(out _)) return new NcclCollectives(world, device);
        return new HostStagedCollectives(kernels, world);
    }
}

/// <summary>
/// Sums through host memory with <see cref="Communicator"/>, in chunks of 16 MiB: every sum is taken
/// in rank order (native/mpi), so the results depend on the inputs and the rank count only, and a
/// range summed by <see cref="ReduceToOwners"/> has the bits <see cref="AllReduceSum"/> gives it.
/// </summary>
public sealed class HostStagedCollectives(IKernels kernels, Communicator world) : IDeviceCollectives
{
    private const int StageElements = 1 << 22;

    public void AllReduceSum(Tensor buffer)
    {
        var stage = new float[(int)Math.Min(buffer.Length, StageElements)];
        for (long done = 0; done < buffer.Length;)
        {
            int count = (int)Math.Min(stage.Length, buffer.Length - done);
            kernels.Download(buffer.Slice(done, count), stage.AsSpan(0, count));
            world.AllReduceSum(stage.AsSpan(0, count));
            kernels.Upload(buffer.Slice(done, count), stage.AsSpan(0, count));
            done += count;
        }
    }

    public void ReduceToOwners(Tensor buffer, long rangeLength)
    {
        int size = world.Size, chunk = ChunkOf(rangeLength);
        var input = new float[chunk * size];
        var output = new float[chunk];
        for (long offset = 0; offset < rangeLength; offset += chunk)
        {
            int count = (int)Math.Min(chunk, rangeLength - offset);
            Array.Clear(input);
            for (int r = 0; r < size; r++)
            {
                // Rank r's piece of this chunk; past the end of the buffer is padding (zeros).
                int valid = Valid(buffer, r * rangeLength + offset, count);
                if (valid > 0) kernels.Download(buffer.Slice(r * rangeLength + offset, valid), input.AsSpan(r * count, valid));
            }
            world.ReduceScatterSum(input.AsSpan(0, count * size), output.AsSpan(0, count));
            int mine = Valid(buffer, world.Rank * rangeLength + offset, count);
            if (mine > 0) kernels.Upload(buffer.Slice(world.Rank * rangeLength + offset, mine), output.AsSpan(0, mine));
        }
    }

    public void BroadcastFromOwners(Tensor buffer, long rangeLength)
    {
        var (from, count) = DeviceCollectives.OwnerRange(world.Rank, buffer.Length, rangeLength);
        Gather(buffer.Slice(from, count), buffer, rangeLength, ownInPlace: true);
    }

    /// <summary>
    /// Every rank's <paramref name="mine"/> (its range's elements, in a buffer of its own) lands at its
    /// range's place in <paramref name="whole"/>, on each rank that passes one (a checkpoint's moments
    /// are gathered on rank 0 alone). Every rank calls it.
    /// </summary>
    public void GatherRanges(Tensor mine, Tensor? whole, long rangeLength) => Gather(mine, whole, rangeLength, ownInPlace: false);

    /// <summary><see cref="GatherRanges"/>; with <paramref name="ownInPlace"/>, <paramref name="mine"/> is this rank's range of <paramref name="whole"/> itself, which needs no copy.</summary>
    private void Gather(Tensor mine, Tensor? whole, long rangeLength, bool ownInPlace)
    {
        int size = world.Size, chunk = ChunkOf(rangeLength);
        var input = new float[chunk];
        var output = new float[chunk * size];
        for (long offset = 0; offset < rangeLength; offset += chunk)
        {
            int count = (int)Math.Min(chunk, rangeLength - offset);
            Array.Clear(input);
            int own = (int)Math.Clamp(mine.Length - offset, 0, count);
            if (own > 0) kernels.Download(mine.Slice(offset, own), input.AsSpan(0, own));
            world.AllGather(input.AsSpan(0, count), output.AsSpan(0, count * size));
            if (whole is not Tensor into) continue;
            for (int r = 0; r < size; r++)
            {
                int valid = Valid(into, r * rangeLength + offset, count);
                if (valid > 0 && !(ownInPlace && r == world.Rank)) kernels.Upload(into.Slice(r * rangeLength + offset, valid), output.AsSpan(r * count, valid));
            }
        }
    }

    private int ChunkOf(long rangeLength) => (int)Math.Max(1, Math.Min(rangeLength, StageElements / world.Size));

    /// <summary>How many of <paramref name="count"/> elements from <paramref name="from"/> lie inside the buffer.</summary>
    private static int Valid(Tensor buffer, long from, int count) => (int)Math.Clamp(buffer.Length - from, 0, count);

    public void Dispose() { }
}

/// <summary>
/// NCCL on the GPU's buffers, on the legacy default stream CudaKernels launches on: one
/// communicator for the job, its id made by rank 0 and broadcast over MPI. Owner ranges of unequal
/// length need no padding: <see cref="ReduceToOwners"/> is one ncclReduce per range and
/// <see cref="BroadcastFromOwners"/> one ncclBroadcast per range, each set in one NCCL group. NCCL's
/// sums follow its own algorithm, not rank order: results are deterministic for one job layout but
/// not bit-identical to the MPI path.
/// </summary>
public sealed unsafe class NcclCollectives : IDeviceCollectives
{
    private readonly RealCudaDevice _device;
    private readonly int _rank, _size;
    private nint _comm;

    public NcclCollectives(Communicator world, RealCudaDevice device)
    {
        _device = device;
        (_rank, _size) = (world.Rank, world.Size);
        NcclUniqueId id;
        if (world.IsRoot) Nccl.Check(Nccl.ncclGetUniqueId(&id), "ncclGetUniqueId");
        world.Broadcast(new Span<byte>(&id, NcclUniqueId.Bytes));
        nint comm;
        Nccl.Check(Nccl.ncclCommInitRank(&comm, _size, id, _rank), $"ncclCommInitRank (rank {_rank} of {_size})");
        _comm = comm;
    }

    /// <summary>Whether libnccl.so.2 loads (and its version, 0 when not).</summary>
    public static bool Available(out int version)
    {
        version = 0;
        try
        {
            int v;
            if (Nccl.ncclGetVersion(&v) != Nccl.Success) return false;
            version = v;
            return true;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    private static int TypeOf(Tensor buffer) => buffer.Type switch
    {
        DType.F32 => Nccl.Float32,
        DType.BF16 => Nccl.Bfloat16,
        DType.F64 => Nccl.Float64,
        _ => throw new NotSupportedException($"NCCL sums of {buffer.Type} buffers"),
    };

    public void AllReduceSum(Tensor buffer)
    {
        Nccl.Check(Nccl.ncclAllReduce(buffer.Address, buffer.Address, (nuint)buffer.Length, TypeOf(buffer), Nccl.Sum, _comm, 0), "ncclAllReduce");
        _device.Synchronize();
    }

    public void ReduceToOwners(Tensor buffer, long rangeLength) => PerRange(buffer, rangeLength, "ncclReduce", (range, count, root) =>
        Nccl.ncclReduce(range, range, count, TypeOf(buffer), Nccl.Sum, root, _comm, 0));

    public void BroadcastFromOwners(Tensor buffer, long rangeLength) => PerRange(buffer, rangeLength, "ncclBroadcast", (range, count, root) =>
        Nccl.ncclBroadcast(range, range, count, TypeOf(buffer), root, _comm, 0));

    private void PerRange(Tensor buffer, long rangeLength, string call, Func<nint, nuint, int, int> collective)
    {
        long elementBytes = buffer.Type.Size();
        Nccl.Check(Nccl.ncclGroupStart(), "ncclGroupStart");
        for (int r = 0; r < _size; r++)
        {
            var (from, count) = DeviceCollectives.OwnerRange(r, buffer.Length, rangeLength);
            if (count > 0) Nccl.Check(collective(buffer.Address + (nint)(from * elementBytes), (nuint)count, r), $"{call} (range of rank {r})");
        }
        Nccl.Check(Nccl.ncclGroupEnd(), "ncclGroupEnd");
        _device.Synchronize();
    }

    public void Dispose()
    {
        if (_comm == 0) return;
        Nccl.ncclCommDestroy(_comm);
        _comm = 0;
    }
}
