using System.Text;
using FastSelfReward.Interop;

namespace FastSelfReward.Distributed;

/// <summary>An MPI call that failed: which one, on which rank, and MPI's own words.</summary>
public sealed class CommunicationException(string message) : IOException(message);

/// <summary>
/// The processes of one job and the collectives between them, on host buffers. A process that
/// mpirun started has one rank of an MPI job (<see cref="FromEnvironment"/>); any other is the
/// one rank of a job of one, where every collective is the identity and no MPI library is loaded.
/// </summary>
/// <remarks>
/// Sums are deterministic: the sum of a shard is taken on its owner in rank order 0, 1, ..., N-1
/// (native/mpi/fsr_mpi.c), so a result depends on the inputs and the number of ranks only, never
/// on timing. Every rank must make the same calls in the same order with the same sizes.
/// </remarks>
public abstract class Communicator : IDisposable
{
    /// <summary>This process's rank, 0-based.</summary>
    public abstract int Rank { get; }

    /// <summary>The number of ranks.</summary>
    public abstract int Size { get; }

    /// <summary>The rank among the processes of this machine (which device a rank takes).</summary>
    public abstract int LocalRank { get; }

    /// <summary>Rank 0, the one that writes checkpoints, metrics and progress.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>Waits until every rank has called it.</summary>
    public abstract void Barrier();

    /// <summary>Every rank's <paramref name="buffer"/> gets the bytes of <paramref name="root"/>'s.</summary>
    public abstract void Broadcast(Span<byte> buffer, int root = 0);

    /// <summary>In place: each element becomes its sum over the ranks, added in rank order; every rank gets the same bits.</summary>
    public abstract void AllReduceSum(Span<float> values);

    /// <inheritdoc cref="AllReduceSum(Span{float})"/>
    public abstract void AllReduceSum(Span<double> values);

    /// <summary>
    /// <paramref name="input"/> holds <see cref="Size"/> shards of <c>output.Length</c> elements;
    /// <paramref name="output"/> receives the sum over the ranks of shard <see cref="Rank"/>, in rank order.
    /// </summary>
    public abstract void ReduceScatterSum(ReadOnlySpan<float> input, Span<float> output);

    /// <summary><paramref name="output"/> (<see cref="Size"/> shards of <c>input.Length</c>) receives every rank's <paramref name="input"/>, in rank order.</summary>
    public abstract void AllGather(ReadOnlySpan<float> input, Span<float> output);

    /// <summary>Rank 0's <paramref name="value"/>, on every rank: how ranks take one decision that rank 0 makes from what it alone reads or writes.</summary>
    public bool RootSays(bool value)
    {
        if (Size == 1) return value;
        Span<byte> flag = [value ? (byte)1 : (byte)0];
        Broadcast(flag);
        return flag[0] != 0;
    }

    /// <summary>Ends every rank of the job with <paramref name="code"/>: what a failed rank does, so that no other waits for it forever.</summary>
    public abstract void Abort(int code);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>The job of one process: collectives are copies, nothing is loaded.</summary>
    public static Communicator Single { get; } = new SingleProcess();

    /// <summary>
    /// The environment variables by which a launcher tells a process it is one rank of a job:
    /// Open MPI's mpirun, PMIx launchers (srun, prterun) and MPICH's Hydra.
    /// </summary>
    public static IReadOnlyList<string> LauncherVariables { get; } = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"];

    /// <summary>The launcher variable this process was started with, or null when no launcher started it.</summary>
    public static string? Launcher(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        return LauncherVariables.FirstOrDefault(v => environment(v) is { Length: > 0 });
    }

    /// <summary>
    /// <see cref="Single"/> for a process no launcher started; otherwise this process's rank of an
    /// MPI job, MPI initialised through libfsr_mpi.
    /// </summary>
    /// <exception cref="DllNotFoundException">Started by a launcher, but libfsr_mpi or libmpi could not be loaded; the message names them and every path tried.</exception>
    /// <exception cref="CommunicationException">MPI failed to start.</exception>
    public static Communicator FromEnvironment() => Launcher() is { } variable ? MpiCommunicator.Start(variable) : Single;

    private sealed class SingleProcess : Communicator
    {
        public override int Rank => 0;
        public override int Size => 1;
        public override int LocalRank => 0;
        public override void Barrier() { }
        public override void Broadcast(Span<byte> buffer, int root = 0) => CheckRoot(root, 1);
        public override void AllReduceSum(Span<float> values) { }
        public override void AllReduceSum(Span<double> values) { }

        public override void ReduceScatterSum(ReadOnlySpan<float> input, Span<float> output)
        {
            CheckShards(input.Length, output.Length, 1);
            input.CopyTo(output);
        }

        public override void AllGather(ReadOnlySpan<float> input, Span<float> output)
        {
            CheckShards(output.Length, input.Length, 1);
            input.CopyTo(output);
        }

        public override void Abort(int code) => Environment.Exit(code);
        public override void Dispose() { }
    }

    private protected static void CheckRoot(int root, int size)
    {
        if (root < 0 || root >= size) throw new ArgumentOutOfRangeException(nameof(root), root, $"a rank of the {size} in the job");
    }

    /// <summary>Checks that <paramref name="whole"/> is <paramref name="size"/> shards of <paramref name="shard"/>.</summary>
    private protected static void CheckShards(int whole, int shard, int size)
    {
        if ((long)shard * size != whole) throw new ArgumentException($"{whole} elements are not {size} shards of {shard}");
    }
}

/// <summary>One rank of an MPI job, through libfsr_mpi.</summary>
internal sealed unsafe class MpiCommunicator : Communicator
{
    private readonly int _rank, _size, _localRank;
    private bool _finalized;

    private MpiCommunicator(int rank, int size, int localRank) => (_rank, _size, _localRank) = (rank, size, localRank);

    public static MpiCommunicator Start(string launcherVariable)
    {
        int rank, size, local, rc;
        try
        {
            rc = FsrMpi.fsr_mpi_init(&rank, &size, &local);
        }
        catch (DllNotFoundException e)
        {
            throw new DllNotFoundException($"this process was started by an MPI launcher (${launcherVariable} is set), but MPI could not be " +
                                           "loaded: libfsr_mpi.so (built with libopenmpi-dev) and the libmpi it links are needed.\n" + e.Message, e);
        }
        if (rc != 0) throw new CommunicationException($"MPI did not start (MPI_Init_thread): {ErrorText(rc)}");
        return new MpiCommunicator(rank, size, local);
    }

    public override int Rank => _rank;
    public override int Size => _size;
    public override int LocalRank => _localRank;

    public override void Barrier() => Check(FsrMpi.fsr_mpi_barrier(), "barrier");

    public override void Broadcast(Span<byte> buffer, int root = 0)
    {
        CheckRoot(root, _size);
        fixed (byte* p = buffer) Check(FsrMpi.fsr_mpi_broadcast(p, buffer.Length, root), "broadcast");
    }

    public override void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values) Check(FsrMpi.fsr_mpi_all_reduce_sum_f32(p, values.Length), "all-reduce");
    }

    public override void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) Check(FsrMpi.fsr_mpi_all_reduce_sum_f64(p, values.Length), "all-reduce");
    }

    public override void ReduceScatterSum(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckShards(input.Length, output.Length, _size);
        fixed (float* i = input)
        fixed (float* o = output)
            Check(FsrMpi.fsr_mpi_reduce_scatter_sum_f32(i, o, output.Length), "reduce-scatter");
    }

    public override void AllGather(ReadOnlySpan<float> input, Span<float> output)
    {
        CheckShards(output.Length, input.Length, _size);
        fixed (float* i = input)
        fixed (float* o = output)
            Check(FsrMpi.fsr_mpi_all_gather_f32(i, o, input.Length), "all-gather");
    }

    public override void Abort(int code) => FsrMpi.fsr_mpi_abort(code);

    public override void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        FsrMpi.fsr_mpi_finalize();
        GC.SuppressFinalize(this);
    }

    private void Check(int rc, string operation)
    {
        if (rc != 0) throw new CommunicationException($"rank {_rank} of {_size}: MPI {operation} failed: {ErrorText(rc)}");
    }

    private static string ErrorText(int code)
    {
        byte* text = stackalloc byte[512];
        int length = FsrMpi.fsr_mpi_error_string(code, text, 512);
        return length > 0 ? Encoding.UTF8.GetString(text, length) : $"error {code}";
    }
}
