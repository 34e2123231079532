using System.Runtime.InteropServices;

namespace FastSelfReward.Interop;

/// <summary>NCCL's 128-byte communicator id (ncclUniqueId): made by one rank, sent to the others over MPI.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NcclUniqueId
{
    public const int Bytes = 128; // NCCL_UNIQUE_ID_BYTES

    public fixed byte Internal[Bytes];
}

/// <summary>
/// NCCL (libnccl.so.2), loaded at run time like the CUDA libraries, for collectives between GPU
/// ranks. The declarations follow NCCL's public header <c>nccl.h</c> (src/nccl.h.in of
/// NVIDIA/nccl), names and parameter types as there: <c>ncclResult_t</c>, <c>ncclDataType_t</c> and
/// <c>ncclRedOp_t</c> are C enums (int), <c>size_t</c> is <see cref="nuint"/>, <c>ncclComm_t</c> and
/// <c>cudaStream_t</c> are pointers (the stream 0 is the legacy default stream every kernel of
/// CudaKernels runs on). No machine of CI has NCCL or a GPU: only a GPU machine runs these.
/// </summary>
internal static unsafe partial class Nccl
{
    public const string Library = "nccl";

    // ncclResult_t
    public const int Success = 0;

    // ncclDataType_t
    public const int Float32 = 7, Float64 = 8, Bfloat16 = 9;

    // ncclRedOp_t
    public const int Sum = 0;

    static Nccl() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial int ncclGetVersion(int* version);
    [LibraryImport(Library)] public static partial int ncclGetUniqueId(NcclUniqueId* uniqueId);
    [LibraryImport(Library)] public static partial int ncclCommInitRank(nint* comm, int nranks, NcclUniqueId commId, int rank);
    [LibraryImport(Library)] public static partial int ncclCommDestroy(nint comm);
    [LibraryImport(Library)] public static partial int ncclCommAbort(nint comm);
    [LibraryImport(Library)] public static partial int ncclCommGetAsyncError(nint comm, int* asyncError);
    [LibraryImport(Library)] public static partial byte* ncclGetErrorString(int result);
    [LibraryImport(Library)] public static partial int ncclAllReduce(nint sendbuff, nint recvbuff, nuint count, int datatype, int op, nint comm, nint stream);
    [LibraryImport(Library)] public static partial int ncclReduceScatter(nint sendbuff, nint recvbuff, nuint recvcount, int datatype, int op, nint comm, nint stream);
    [LibraryImport(Library)] public static partial int ncclAllGather(nint sendbuff, nint recvbuff, nuint sendcount, int datatype, nint comm, nint stream);
    [LibraryImport(Library)] public static partial int ncclBroadcast(nint sendbuff, nint recvbuff, nuint count, int datatype, int root, nint comm, nint stream);
    [LibraryImport(Library)] public static partial int ncclReduce(nint sendbuff, nint recvbuff, nuint count, int datatype, int op, int root, nint comm, nint stream);
    [LibraryImport(Library)] public static partial int ncclGroupStart();
    [LibraryImport(Library)] public static partial int ncclGroupEnd();

    /// <summary>Throws naming the call and NCCL's own words when <paramref name="result"/> is not success.</summary>
    public static void Check(int result, string call)
    {
        if (result != Success)
            throw new Distributed.CommunicationException($"NCCL {call} failed ({result}): {Marshal.PtrToStringUTF8((nint)ncclGetErrorString(result))}");
    }
}
