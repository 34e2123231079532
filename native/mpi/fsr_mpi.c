/*
 * libfsr_mpi: the MPI calls FastSelfReward makes, on host buffers, behind a C ABI that .NET
 * binds with P/Invoke (src/FastSelfReward/Interop/FsrMpi.cs). It is its own library, linked
 * against libmpi, so that a process started without mpirun never loads MPI at all.
 *
 * Reductions are deterministic by construction: a reduce-scatter is an all-to-all of the
 * shards followed by a sum in rank order 0, 1, ..., N-1 on the shard's owner, so the result
 * depends only on the inputs and N, never on timing or on the algorithm Open MPI picks for a
 * message size. The all-reduce is that reduce-scatter followed by an all-gather, the same
 * traffic as a ring all-reduce ((N-1)/N of the buffer sent and received per rank each way).
 *
 * MPI counts are ints; every buffer is processed in chunks of at most fsr_mpi_chunk elements
 * (FSR_MPI_CHUNK_ELEMENTS overrides it, so tests can reach the chunked path on small buffers).
 * Errors return the MPI error code (MPI_ERRORS_RETURN is set on the world communicator);
 * fsr_mpi_error_string turns one into text.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FSR_API __attribute__((visibility("default")))

static MPI_Comm local_comm = MPI_COMM_NULL;
static int64_t chunk_elements = 1 << 26;
static int world_rank, world_size;

/*
 * Host buffers kept from call to call (grown, never shrunk), so that a training step's sums
 * allocate nothing: the all-to-all's receive buffer, the packed send buffer of a chunked
 * reduce-scatter, the receive buffer of a chunked all-gather, and an all-reduce's padded copy and
 * reduced shard. Each has one user at a time (one thread calls MPI).
 */
struct buffer {
    void* data;
    size_t bytes;
};
static struct buffer received_buffer, packed_buffer, gathered_buffer, staged_buffer, reduced_buffer;

static void* grow(struct buffer* buffer, size_t bytes) {
    if (bytes > buffer->bytes) {
        void* grown = realloc(buffer->data, bytes);
        if (!grown) return NULL;
        buffer->data = grown;
        buffer->bytes = bytes;
    }
    return buffer->data;
}

FSR_API int fsr_mpi_init(int* rank, int* size, int* local_rank) {
    int initialized = 0, provided = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        /* One thread calls MPI (the orchestrator's); OpenMP threads inside kernels never do. */
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return rc;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (rc == MPI_SUCCESS && local_comm == MPI_COMM_NULL)
        rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &local_comm);
    int local = 0;
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(local_comm, &local);
    if (rc != MPI_SUCCESS) return rc;
    const char* chunk = getenv("FSR_MPI_CHUNK_ELEMENTS");
    if (chunk && atoll(chunk) > 0) chunk_elements = atoll(chunk);
    *rank = world_rank;
    *size = world_size;
    *local_rank = local;
    return MPI_SUCCESS;
}

FSR_API int fsr_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return MPI_SUCCESS;
    if (local_comm != MPI_COMM_NULL) MPI_Comm_free(&local_comm);
    struct buffer* buffers[] = {&received_buffer, &packed_buffer, &gathered_buffer, &staged_buffer, &reduced_buffer};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) {
        free(buffers[i]->data);
        *buffers[i] = (struct buffer){0};
    }
    return MPI_Finalize();
}

/* Ends every rank of the job: what a rank that failed calls, so the others do not wait forever. */
FSR_API int fsr_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

FSR_API int fsr_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

FSR_API int fsr_mpi_error_string(int code, char* text, int capacity) {
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) length = 0;
    if (capacity <= 0) return length;
    int n = length < capacity - 1 ? length : capacity - 1;
    memcpy(text, message, (size_t)n);
    text[n] = 0;
    return n;
}

FSR_API int fsr_mpi_broadcast(void* buffer, int64_t bytes, int root) {
    for (int64_t done = 0; done < bytes;) {
        int n = (int)(bytes - done < chunk_elements ? bytes - done : chunk_elements);
        int rc = MPI_Bcast((char*)buffer + done, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}

/*
 * One chunk of a reduce-scatter: input holds N shards of `shard` elements (shard r belongs to
 * rank r); output receives the sum over ranks of this rank's shard, added in rank order.
 */
#define REDUCE_SCATTER_CHUNK(NAME, T, MPI_T)                                                           \
    static int NAME(const T* input, T* output, int shard) {                                           \
        T* received = (T*)grow(&received_buffer, (size_t)world_size * (size_t)shard * sizeof(T));      \
        if (!received) return MPI_ERR_NO_MEM;                                                          \
        int rc = MPI_Alltoall(input, shard, MPI_T, received, shard, MPI_T, MPI_COMM_WORLD);           \
        if (rc != MPI_SUCCESS) return rc;                                                              \
        for (int i = 0; i < shard; i++) {                                                              \
            T sum = received[i];                                                                       \
            for (int r = 1; r < world_size; r++) sum += received[(size_t)r * (size_t)shard + i];       \
            output[i] = sum;                                                                           \
        }                                                                                              \
        return MPI_SUCCESS;                                                                            \
    }

REDUCE_SCATTER_CHUNK(reduce_scatter_chunk_f32, float, MPI_FLOAT)
REDUCE_SCATTER_CHUNK(reduce_scatter_chunk_f64, double, MPI_DOUBLE)

/*
 * Shards larger than a chunk are cut into pieces; piece j of every shard travels together,
 * gathered into a contiguous send buffer (the all-to-all wants its blocks adjacent).
 */
#define REDUCE_SCATTER(NAME, CHUNK, T)                                                                  \
    FSR_API int NAME(const T* input, T* output, int64_t shard) {                                       \
        if (shard <= chunk_elements) return CHUNK(input, output, (int)shard);                          \
        T* packed = (T*)grow(&packed_buffer, (size_t)world_size * (size_t)chunk_elements * sizeof(T)); \
        if (!packed) return MPI_ERR_NO_MEM;                                                             \
        int rc = MPI_SUCCESS;                                                                           \
        for (int64_t offset = 0; offset < shard && rc == MPI_SUCCESS; offset += chunk_elements) {      \
            int n = (int)(shard - offset < chunk_elements ? shard - offset : chunk_elements);          \
            for (int r = 0; r < world_size; r++)                                                        \
                memcpy(packed + (size_t)r * n, input + (size_t)r * shard + offset, (size_t)n * sizeof(T)); \
            rc = CHUNK(packed, output + offset, n);                                                     \
        }                                                                                               \
        return rc;                                                                                      \
    }

REDUCE_SCATTER(fsr_mpi_reduce_scatter_sum_f32, reduce_scatter_chunk_f32, float)
REDUCE_SCATTER(fsr_mpi_reduce_scatter_sum_f64, reduce_scatter_chunk_f64, double)

/* output (N shards) receives every rank's shard of `shard` elements, in rank order. */
#define ALL_GATHER(NAME, T, MPI_T)                                                                      \
    FSR_API int NAME(const T* input, T* output, int64_t shard) {                                       \
        if (shard <= chunk_elements)                                                                    \
            return MPI_Allgather(input, (int)shard, MPI_T, output, (int)shard, MPI_T, MPI_COMM_WORLD); \
        T* gathered = (T*)grow(&gathered_buffer, (size_t)world_size * (size_t)chunk_elements * sizeof(T)); \
        if (!gathered) return MPI_ERR_NO_MEM;                                                           \
        int rc = MPI_SUCCESS;                                                                           \
        for (int64_t offset = 0; offset < shard && rc == MPI_SUCCESS; offset += chunk_elements) {      \
            int n = (int)(shard - offset < chunk_elements ? shard - offset : chunk_elements);          \
            rc = MPI_Allgather(input + offset, n, MPI_T, gathered, n, MPI_T, MPI_COMM_WORLD);          \
            for (int r = 0; r < world_size && rc == MPI_SUCCESS; r++)                                   \
                memcpy(output + (size_t)r * shard + offset, gathered + (size_t)r * n, (size_t)n * sizeof(T)); \
        }                                                                                               \
        return rc;                                                                                      \
    }

ALL_GATHER(fsr_mpi_all_gather_f32, float, MPI_FLOAT)
ALL_GATHER(fsr_mpi_all_gather_f64, double, MPI_DOUBLE)

/*
 * In-place sum over ranks of `count` elements, in rank order: padded to N equal shards, each
 * reduced on its owner, then gathered back. Every rank ends with the same bits.
 */
#define ALL_REDUCE(NAME, REDUCE, GATHER, T)                                                             \
    FSR_API int NAME(T* buffer, int64_t count) {                                                       \
        int64_t shard = (count + world_size - 1) / world_size;                                          \
        size_t padded = (size_t)shard * (size_t)world_size;                                             \
        T* staged = (T*)grow(&staged_buffer, (padded > 0 ? padded : 1) * sizeof(T));                     \
        T* reduced = (T*)grow(&reduced_buffer, (size_t)(shard > 0 ? shard : 1) * sizeof(T));            \
        if (!staged || !reduced) return MPI_ERR_NO_MEM;                                                 \
        memcpy(staged, buffer, (size_t)count * sizeof(T));                                              \
        memset(staged + count, 0, (padded - (size_t)count) * sizeof(T));                                \
        int rc = REDUCE(staged, reduced, shard);                                                        \
        if (rc == MPI_SUCCESS) rc = GATHER(reduced, staged, shard);                                     \
        if (rc == MPI_SUCCESS) memcpy(buffer, staged, (size_t)count * sizeof(T));                       \
        return rc;                                                                                      \
    }

ALL_REDUCE(fsr_mpi_all_reduce_sum_f32, fsr_mpi_reduce_scatter_sum_f32, fsr_mpi_all_gather_f32, float)
ALL_REDUCE(fsr_mpi_all_reduce_sum_f64, fsr_mpi_reduce_scatter_sum_f64, fsr_mpi_all_gather_f64, double)
