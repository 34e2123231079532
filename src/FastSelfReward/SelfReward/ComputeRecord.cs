using System.Text.Json;
using FastSelfReward.Compute;

namespace FastSelfReward.SelfReward;

/// <summary>
/// compute.json: what a run's numbers depend on beyond its configuration, the backend and (on the
/// CPU) the thread count. OpenBLAS sums a weight gradient's GEMM in an order that depends on the
/// thread count, so a run resumed with another count matches neither an uninterrupted run with the
/// first count nor one with the second (docs/loop.md, "Safety"); the record makes that a refusal.
/// </summary>
/// <param name="Backend">The backend's name: <c>cpu</c> or <c>cuda</c>.</param>
/// <param name="CpuThreads">The CPU kernels' and BLAS's thread count; null on a GPU.</param>
public sealed record ComputeRecord(string Backend, int? CpuThreads)
{
    /// <summary>The file inside a run folder.</summary>
    public const string FileName = "compute.json";

    /// <summary>What <paramref name="kernels"/> compute with in this process.</summary>
    public static ComputeRecord Of(IKernels kernels) => new(kernels.Name, kernels is CpuKernels ? CpuKernels.Threads : null);

    /// <summary>
    /// Checks this process against the record of the run in <paramref name="runDirectory"/>, or
    /// writes the record when the run has none yet.
    /// </summary>
    /// <exception cref="InvalidOperationException">The run was computed with another backend or thread count; the message names both.</exception>
    public void CheckOrWrite(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (File.Exists(path))
        {
            var recorded = JsonSerializer.Deserialize<ComputeRecord>(File.ReadAllText(path), RunConfig.Json)
                ?? throw new InvalidDataException($"{path}: empty");
            if (recorded.Backend != Backend)
                throw new InvalidOperationException($"{path}: this run was computed on {recorded.Backend} and this process computes on {Backend}; " +
                                                    $"resuming it there would mix two sets of numbers: continue it on {recorded.Backend}");
            if (recorded.CpuThreads != CpuThreads)
                throw new InvalidOperationException($"{path}: this run was computed with {recorded.CpuThreads} CPU threads and this process has {CpuThreads}; " +
                                                    $"the BLAS may sum in another order with another count, so the result would match neither run: continue it with {recorded.CpuThreads} threads");
            return;
        }
        Data.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, RunConfig.Json));
    }
}
