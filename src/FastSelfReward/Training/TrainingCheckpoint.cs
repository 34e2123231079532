using System.Globalization;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>Where in the data a run stands: the next step to take is step <see cref="StepInEpoch"/> of epoch <see cref="Epoch"/>.</summary>
public readonly record struct TrainingCursor(int Epoch, int StepInEpoch);

/// <summary>What a checkpoint restored.</summary>
/// <param name="Step">Optimizer steps taken; also the learning-rate schedule's position (the next step uses At(Step + 1)).</param>
/// <param name="Cursor">The next step of the data plan.</param>
public sealed record TrainingState(long Step, TrainingCursor Cursor);

/// <summary>
/// Saves and restores everything a resumed run needs to continue exactly as an uninterrupted one:
/// the weights, AdamW's two moments and step count (which is also the schedule's position), the data
/// cursor, the seed, and a fingerprint of the configuration and data. No random-generator state is
/// kept because there is none to keep: every epoch's order is a pure function of (seed, epoch).
/// </summary>
/// <remarks>
/// One safetensors file: every parameter under its Hugging Face name, the moments under
/// <c>optimizer.exp_avg.NAME</c> and <c>optimizer.exp_avg_sq.NAME</c>, the scalars in the metadata.
/// It is written to a temporary name and renamed over the old one, so a kill leaves the previous
/// checkpoint or the new one, never a mixture. Values are stored as float32, the master type of
/// weights and moments on every backend, so an F32 run resumes bit for bit (an F64 test model is
/// rounded to float32).
/// </remarks>
public static class TrainingCheckpoint
{
    /// <summary>The metadata <c>format</c> value of a training-state file.</summary>
    public const string Format = "fsr-training-state";
    private const string FirstMomentPrefix = "optimizer.exp_avg.", SecondMomentPrefix = "optimizer.exp_avg_sq.";
    private const int ChunkElements = 1 << 20;

    /// <summary>
    /// Writes the state after the optimizer's last step to <paramref name="path"/>, atomically. With
    /// several ranks every rank calls it and rank 0 alone gives a path: the ranges of the moments and
    /// master weights that each rank keeps (ZeRO-1) are gathered chunk by chunk as rank 0 writes them
    /// (<see cref="RangeGather"/>), so the state is one file and no rank holds more of it than a chunk.
    /// </summary>
    /// <param name="path">The checkpoint file (its folder is created); null on the ranks that do not write.</param>
    /// <param name="model">The trained model.</param>
    /// <param name="optimizer">Its optimizer: the master weights, the moments and the step count.</param>
    /// <param name="world">The ranks training together; null: this process alone.</param>
    /// <param name="cursor">The next step of the data plan.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="fingerprint">A digest of the configuration and data; <see cref="Load"/> requires the same.</param>
    public static void Save(string? path, LlamaModel model, AdamWOptimizer optimizer, Communicator? world, TrainingCursor cursor, int seed, string fingerprint)
    {
        world ??= Communicator.Single;
        if (world.IsRoot != path is not null) throw new ArgumentException("rank 0, and only rank 0, writes the state: it alone passes a path", nameof(path));
        long total = model.Layout.TotalLength;
        var weights = new RangeGather(model.Kernels, world, optimizer.Weights, optimizer.WeightsOffset, total, optimizer.ShardsWeights);
        var first = new RangeGather(model.Kernels, world, optimizer.FirstMoments, optimizer.ShardOffset, total, optimizer.Sharded);
        var second = new RangeGather(model.Kernels, world, optimizer.SecondMoments, optimizer.ShardOffset, total, optimizer.Sharded);
        var tensors = new List<TensorToSave>();
        foreach (var entry in model.Layout.Entries)
        {
            TensorToSave Source(string name, RangeGather reader) => new(name, entry.Shape, (offset, destination) => reader.Read(entry.Offset + offset, destination));
            tensors.Add(Source(entry.Name, weights));
            tensors.Add(Source(FirstMomentPrefix + entry.Name, first));
            tensors.Add(Source(SecondMomentPrefix + entry.Name, second));
        }
        long step = optimizer.Step;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = cursor.Epoch.ToString(CultureInfo.InvariantCulture),
            ["step_in_epoch"] = cursor.StepInEpoch.ToString(CultureInfo.InvariantCulture),
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["fingerprint"] = fingerprint,
        };
        if (CpuThreads(model) is int threads) metadata["cpu_threads"] = threads.ToString(CultureInfo.InvariantCulture);
        if (path is null)
        {
            SafetensorsWriter.WriteTo(Stream.Null, tensors, SafetensorsDtype.F32, metadata);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafetensorsWriter.Write(path, tensors, SafetensorsDtype.F32, metadata);
    }

    /// <summary>
    /// Restores weights, moments and step count from <paramref name="path"/> into
    /// <paramref name="model"/> and <paramref name="optimizer"/>, and returns the step and cursor.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The file is not a training state, was written with another seed, fingerprint or CPU thread
    /// count, or lacks a tensor of this model or has it in another shape. Nothing is restored then.
    /// </exception>
    public static TrainingState Load(string path, LlamaModel model, AdamWOptimizer optimizer, int seed, string fingerprint)
    {
        using var file = SafetensorsFile.Open(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var value)
            ? value
            : throw new InvalidDataException($"{path}: metadata has no '{key}'; not a {Format} file");
        long Number(string key) => long.TryParse(Meta(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) && n >= 0
            ? n
            : throw new InvalidDataException($"{path}: metadata '{key}' is '{Meta(key)}', expected a non-negative integer");
        if (Meta("format") != Format) throw new InvalidDataException($"{path}: format is '{Meta("format")}', expected '{Format}'");
        if (Meta("seed") != seed.ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"{path}: written with seed {Meta("seed")}, this run has seed {seed}");
        if (Meta("fingerprint") != fingerprint)
            throw new InvalidDataException($"{path}: written for another configuration or dataset (fingerprint {Meta("fingerprint")}, this run {fingerprint})");
        // The BLAS may sum in another order with another thread count: the rest of the run would match no uninterrupted one.
        if (CpuThreads(model) is int threads && file.Metadata.TryGetValue("cpu_threads", out string? saved)
            && saved != threads.ToString(CultureInfo.InvariantCulture))
            throw new InvalidDataException($"{path}: written with {saved} CPU threads, this process has {threads}; continue with {saved} threads, or remove the file to start over");
        long step = Number("step");
        var cursor = new TrainingCursor(checked((int)Number("epoch")), checked((int)Number("step_in_epoch")));
        foreach (var entry in model.Layout.Entries)
            foreach (string name in new[] { entry.Name, FirstMomentPrefix + entry.Name, SecondMomentPrefix + entry.Name })
            {
                if (!file.TryGetTensor(name, out var info))
                    throw new InvalidDataException($"{path}: no tensor '{name}'");
                if (!info.Shape.SequenceEqual(entry.Shape))
                    throw new InvalidDataException($"{path}: tensor '{name}' is {info.ShapeText}, the model expects {SafetensorsTensorInfo.FormatShape(entry.Shape)}");
            }

        var chunk = new float[(int)Math.Min(ChunkElements, model.Layout.Entries.Max(e => e.Count))];
        foreach (var entry in model.Layout.Entries)
        {
            // The ranges this rank keeps only (the moments' and the master weights', whole or sharded):
            // a state saved by any number of ranks resumes on any other.
            void Part(string name, Tensor kept, long keptOffset)
            {
                long from = Math.Max(entry.Offset, keptOffset), to = Math.Min(entry.Offset + entry.Count, keptOffset + kept.Length);
                if (to > from) Restore(file, name, entry, from - entry.Offset, to - from, model.Kernels, kept.Slice(from - keptOffset, to - from), chunk);
            }
            Part(entry.Name, optimizer.Weights, optimizer.WeightsOffset);
            Part(FirstMomentPrefix + entry.Name, optimizer.FirstMoments, optimizer.ShardOffset);
            Part(SecondMomentPrefix + entry.Name, optimizer.SecondMoments, optimizer.ShardOffset);
        }
        optimizer.WeightsWritten();
        optimizer.Restore(step);
        return new TrainingState(step, cursor);
    }

    private static int? CpuThreads(LlamaModel model) => model.Kernels is CpuKernels ? CpuKernels.Threads : null;

    /// <summary>Elements [<paramref name="first"/>, + <paramref name="count"/>) of the file's tensor into <paramref name="destination"/>.</summary>
    private static void Restore(SafetensorsFile file, string name, ParameterEntry entry, long first, long count, IKernels kernels, Tensor destination,
        float[] chunk)
    {
        for (long done = 0; done < count;)
        {
            int n = (int)Math.Min(chunk.Length, count - done);
            file.ReadFloat32(name, first + done, chunk.AsSpan(0, n));
            kernels.Upload(destination.Slice(done, n), chunk.AsSpan(0, n));
            done += n;
        }
    }
}
