using System.Runtime.InteropServices;

namespace FastSelfReward.Interop;

/// <summary>
/// The C ABI of libfsr_mpi (native/mpi/fsr_mpi.c), the MPI calls of data-parallel runs on host
/// buffers. Every function returns an MPI error code (0 is success); <c>int64_t</c> counts are
/// <see cref="long"/>. The library links libmpi, so it is loaded only by a process mpirun started
/// (<see cref="Distributed.Communicator.FromEnvironment"/>).
/// </summary>
internal static unsafe partial class FsrMpi
{
    /// <summary>Logical library name, resolved by <see cref="NativeLibraryResolver"/>.</summary>
    public const string Library = "fsr_mpi";

    static FsrMpi() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial int fsr_mpi_init(int* rank, int* size, int* localRank);
    [LibraryImport(Library)] public static partial int fsr_mpi_finalize();
    [LibraryImport(Library)] public static partial int fsr_mpi_abort(int code);
    [LibraryImport(Library)] public static partial int fsr_mpi_barrier();
    [LibraryImport(Library)] public static partial int fsr_mpi_error_string(int code, byte* text, int capacity);
    [LibraryImport(Library)] public static partial int fsr_mpi_broadcast(void* buffer, long bytes, int root);
    [LibraryImport(Library)] public static partial int fsr_mpi_all_reduce_sum_f32(float* buffer, long count);
    [LibraryImport(Library)] public static partial int fsr_mpi_all_reduce_sum_f64(double* buffer, long count);
    [LibraryImport(Library)] public static partial int fsr_mpi_reduce_scatter_sum_f32(float* input, float* output, long shard);
    [LibraryImport(Library)] public static partial int fsr_mpi_reduce_scatter_sum_f64(double* input, double* output, long shard);
    [LibraryImport(Library)] public static partial int fsr_mpi_all_gather_f32(float* input, float* output, long shard);
    [LibraryImport(Library)] public static partial int fsr_mpi_all_gather_f64(double* input, double* output, long shard);
}
