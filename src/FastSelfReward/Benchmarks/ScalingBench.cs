using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;
using FastSelfReward.Training;

namespace FastSelfReward.Benchmarks;

/// <summary>
/// Data-parallel training throughput of one config: one rank alone (rank 0, the others waiting),
/// then all N ranks, each with a batch of the same size (weak scaling: the step holds N batches).
/// </summary>
/// <param name="Config">The bench config.</param>
/// <param name="Ranks">N.</param>
/// <param name="BatchPerRank">Sequences per rank and step.</param>
/// <param name="SeqLen">Tokens per sequence.</param>
/// <param name="TimedSteps">Steps timed after warm-up, for each measurement.</param>
/// <param name="ShardedOptimizer">Whether the N-rank steps kept 1/N of the moments per rank (ZeRO-1).</param>
/// <param name="OneRankStepSeconds">Median step time of one rank alone.</param>
/// <param name="OneRankTokensPerSecond">Its tokens per second.</param>
/// <param name="StepSeconds">Median step time of N ranks (rank 0's clock; every step ends in collectives, so the ranks move together).</param>
/// <param name="TokensPerSecond">All ranks' tokens per second.</param>
/// <param name="TokensPerSecondPerRank">That over N.</param>
/// <param name="Efficiency">Tokens per second of N ranks over N times one rank's: 1 is perfect scaling.</param>
public sealed record ScalingResult(string Config, int Ranks, int BatchPerRank, int SeqLen, int TimedSteps, bool ShardedOptimizer,
    double OneRankStepSeconds, double OneRankTokensPerSecond, double StepSeconds, double TokensPerSecond, double TokensPerSecondPerRank,
    double Efficiency);

/// <summary>What <c>mpirun -np N fsr bench</c> prints: the job, then one <see cref="ScalingResult"/> per config.</summary>
public sealed record ScalingReport(string Backend, int Ranks, int? ThreadsPerRank, string Note, IReadOnlyList<ScalingResult> Configs)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);
}

public static class ScalingBench
{
    /// <summary>Measures every config of <paramref name="settings"/>; every rank calls it, rank 0's report is the one to print.</summary>
    public static ScalingReport Run(IKernels kernels, Communicator world, BenchSettings settings, bool shardOptimizer = true, Action<string>? progress = null)
    {
        var results = new List<ScalingResult>();
        foreach (var name in settings.Configs)
        {
            var bench = BenchRunner.Configs.TryGetValue(name, out var found) ? found
                : throw new ArgumentException($"unknown bench config '{name}' (known: {string.Join(", ", BenchRunner.Configs.Keys)})");
            int batch = settings.Batch ?? bench.Batch, seqLen = settings.SeqLen ?? bench.SeqLen;
            var random = new Random(settings.Seed);
            // N batches of distinct sequences, the same on every rank: the step's micro-batch r is rank r's.
            var batches = Enumerable.Range(0, world.Size).Select(_ => Enumerable.Range(0, batch)
                .Select(_ => new LmExample(Enumerable.Range(0, seqLen).Select(_ => random.Next(bench.Model.VocabSize)).ToArray())).ToArray()).ToArray();
            var options = new PretrainOptions { Steps = 1000, WarmupSteps = 2, BatchTokens = world.Size * batch * seqLen };

            progress?.Invoke($"{name}: one rank, B={batch} T={seqLen}");
            double alone = 0;
            if (world.IsRoot)
            {
                using var model = new LlamaModel(kernels, bench.Model);
                model.InitializeRandom(settings.Seed);
                using var training = TrainingRun.Create(model, new CausalLmObjective(model), batches[0], options with { BatchTokens = batch * seqLen }, settings.Seed);
                alone = MedianStep(settings, () => training.Step([batches[0]]));
            }
            world.Barrier();

            progress?.Invoke($"{name}: {world.Size} ranks, B={batch} each");
            double together;
            using (var model = new LlamaModel(kernels, bench.Model))
            {
                model.InitializeRandom(settings.Seed);
                using var training = TrainingRun.Create(model, new CausalLmObjective(model), [.. batches.SelectMany(b => b)], options, settings.Seed, world,
                    shardOptimizer);
                together = MedianStep(settings, () => training.Step(batches));
            }
            double[] shared = [alone];
            world.AllReduceSum(shared);
            alone = shared[0];
            long tokens = (long)batch * seqLen;
            double oneRank = tokens / alone, all = world.Size * tokens / together;
            results.Add(new ScalingResult(name, world.Size, batch, seqLen, settings.TimedSteps, shardOptimizer && world.Size > 1,
                Math.Round(alone, 4), Math.Round(oneRank, 1), Math.Round(together, 4), Math.Round(all, 1), Math.Round(all / world.Size, 1),
                Math.Round(all / (world.Size * oneRank), 3)));
        }
        return new ScalingReport(kernels.Name, world.Size, kernels is CpuKernels ? CpuKernels.Threads : null,
            "weak scaling: each rank trains a batch of the given size per step; one rank alone is measured with the same threads while the "
            + "others wait (on the CPU give each rank its own cores: --threads); medians over timed steps, warm-up excluded; the sums over "
            + "ranks go through host memory with MPI (NCCL on a GPU when present)", results);
    }

    private static double MedianStep(BenchSettings settings, Action step)
    {
        for (int i = 0; i < settings.WarmupSteps; i++) step();
        var seconds = new double[settings.TimedSteps];
        for (int i = 0; i < seconds.Length; i++)
        {
            var clock = Stopwatch.StartNew();
            step();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        Array.Sort(seconds);
        return seconds[seconds.Length / 2];
    }
}
