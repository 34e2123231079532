using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>AdamW hyperparameters (Loshchilov and Hutter: weight decay decoupled from the gradient).</summary>
public sealed record AdamWOptions
{
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.0;
    /// <summary>Global gradient-norm clip; 0 or less disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
}

/// <summary>
/// AdamW over a model's flat parameter buffer, with global gradient-norm clipping folded into the
/// update as a gradient scale. The first and second moments live in flat buffers with the
/// parameters' layout and type (fp32 master weights in a bf16 model, whose compute copy is refreshed
/// after every update); weight decay applies to matrices only, never to norm gains.
/// </summary>
/// <remarks>
/// With several ranks the optimizer also sums the ranks' gradients (<see cref="IDeviceCollectives"/>:
/// MPI through host memory, or NCCL on a GPU). Replicated, every rank
/// all-reduces the whole gradient and updates every parameter. Sharded (ZeRO-1), the flat buffer is
/// cut into <see cref="Communicator.Size"/> equal ranges; each rank keeps the moments of its range
/// only (1/N of them), receives the summed gradient of its range (reduce-scatter), updates those
/// parameters, and the ranges are gathered back to every rank (all-gather). In a mixed-precision
/// model the fp32 master weights are sharded too: each rank keeps its range of them
/// (<see cref="Weights"/>), rounds it into its range of the model's bf16 copy, and the bf16 ranges are
/// gathered (half the bytes of fp32); the model's whole master buffer is freed while training and
/// gathered back by <see cref="GatherWeights"/> at its end. An fp32 model computes from its master
/// weights, which therefore stay whole on every rank. The gradient norm is in
/// both cases the sum over ranges, in rank order, of each range's sum of squares, and (on the MPI
/// path) a range's reduced gradient is the same bits either way, so sharded and replicated training
/// give the same weights, bit for bit.
/// </remarks>
public sealed class AdamWOptimizer : IDisposable
{
    private readonly LlamaModel _model;
    private readonly Communicator _world;
    private readonly IDeviceCollectives? _collectives;
    private readonly bool _ownsCollectives;
    private readonly DeviceBuffer _m, _v;
    // This rank's range of the fp32 master weights when it keeps only that (ZeRO-1 in a mixed-precision model).
    private DeviceBuffer? _weights;
    private readonly long _total, _range;

    /// <param name="model">The model whose parameters are updated.</param>
    /// <param name="options">Hyperparameters.</param>
    /// <param name="world">The ranks training together; null: this process alone.</param>
    /// <param name="shard">
    /// Above one rank, keep only this rank's range of the moments, and of the fp32 master weights in a
    /// mixed-precision model, whose whole master buffer is then freed until <see cref="GatherWeights"/> (ZeRO-1).
    /// </param>
    /// <param name="collectives">
    /// How the ranks' buffers are summed and gathered, owned by the caller; null: the backend's way
    /// (<see cref="DeviceCollectives.For"/>), none for a job of one. Given, they are used even by a job
    /// of one, sharded when <paramref name="shard"/> (the self-test trains through NCCL on one GPU).
    /// </param>
    public AdamWOptimizer(LlamaModel model, AdamWOptions options, Communicator? world = null, bool shard = false, IDeviceCollectives? collectives = null)
    {
        _model = model;
        _world = world ?? Communicator.Single;
        Options = options;
        _total = model.Layout.TotalLength;
        Sharded = shard && (_world.Size > 1 || collectives is not null);
        _range = DeviceCollectives.RangeLength(_total, _world.Size);
        (ShardOffset, ShardLength) = Sharded ? DeviceCollectives.OwnerRange(_world.Rank, _total, _range) : (0, _total);
        _ownsCollectives = collectives is null;
        _collectives = collectives ?? DeviceCollectives.For(model.Kernels, _world);
        DType wide = model.Type.Wide();
        _m = model.Kernels.Allocate(Math.Max(ShardLength, 1), wide);
        _v = model.Kernels.Allocate(Math.Max(ShardLength, 1), wide);
        if (Sharded && model.HasComputeCopy)
        {
            _weights = model.Kernels.Allocate(Math.Max(ShardLength, 1), wide);
            if (ShardLength > 0) model.Kernels.Copy(_weights.Slice(0, ShardLength), model.Parameters.Slice(ShardOffset, ShardLength));
            model.ReleaseParameters();
        }
    }

    public AdamWOptions Options { get; }

    /// <summary>Whether this rank keeps only its range of the moments (ZeRO-1).</summary>
    public bool Sharded { get; }

    /// <summary>The first parameter whose moments this rank keeps (0 unless sharded).</summary>
    public long ShardOffset { get; }

    /// <summary>How many parameters' moments this rank keeps (all unless sharded).</summary>
    public long ShardLength { get; }

    /// <summary>Whether this rank keeps only its range of the fp32 master weights (ZeRO-1 in a mixed-precision model, until <see cref="GatherWeights"/>).</summary>
    public bool ShardsWeights => _weights is not null;

    /// <summary>
    /// The fp32 master weights this rank updates: parameters [<see cref="ShardOffset"/>, + <see cref="ShardLength"/>)
    /// when <see cref="ShardsWeights"/>, otherwise the model's whole <see cref="LlamaModel.Parameters"/>. After
    /// writing them (a resumed state), call <see cref="WeightsWritten"/>.
    /// </summary>
    public Tensor Weights => _weights is { } weights ? weights.Slice(0, ShardLength) : _model.Parameters;

    /// <summary>The first parameter of <see cref="Weights"/>.</summary>
    public long WeightsOffset => ShardsWeights ? ShardOffset : 0;

    /// <summary>Updates taken so far (the bias-correction step count).</summary>
    public long Step { get; private set; }

    /// <summary>First moments of parameters [<see cref="ShardOffset"/>, + <see cref="ShardLength"/>).</summary>
    public Tensor FirstMoments => _m.Slice(0, ShardLength);

    /// <summary>Second moments of the same parameters.</summary>
    public Tensor SecondMoments => _v.Slice(0, ShardLength);

    /// <summary>√(Σ g²) over every parameter gradient of this process (before any sum over ranks).</summary>
    public double GradientNorm() => Math.Sqrt(_model.Kernels.SumSquares(_model.Gradients, _total));

    /// <summary>
    /// One update at the given learning rate; returns the gradient norm before clipping. With several
    /// ranks the gradients are first summed over them (each rank passes its own share's). Gradients
    /// are left as they are (the caller zeroes them for the next step).
    /// </summary>
    public double Update(double learningRate)
    {
        using var _ = Nvtx.Range("optimizer step");
        double norm;
        if (_collectives is null) norm = GradientNorm();
        else
        {
            using (Nvtx.Range("sum gradients over ranks"))
            {
                if (Sharded) _collectives.ReduceToOwners(_model.Gradients, _range);
                else _collectives.AllReduceSum(_model.Gradients);
            }
            norm = Math.Sqrt(SumSquaresOverRanges());
        }
        if (!double.IsFinite(norm))
            throw new InvalidOperationException($"gradient norm is {norm} at step {Step + 1}: the update was skipped and the weights are unchanged");
        double scale = Options.MaxGradNorm > 0 && norm > Options.MaxGradNorm ? Options.MaxGradNorm / norm : 1.0;
        Step++;
        var kernels = _model.Kernels;
        long end = ShardOffset + ShardLength;
        foreach (var entry in _model.Layout.Entries)
        {
            // The part of the tensor this rank updates (all of it unless sharded).
            long from = Math.Max(entry.Offset, ShardOffset), to = Math.Min(entry.Offset + entry.Count, end);
            if (to <= from) continue;
            var step = new AdamWStep(learningRate, Options.Beta1, Options.Beta2, Options.Epsilon,
                entry.Decay ? Options.WeightDecay : 0.0, scale, Step);
            var weights = ShardsWeights ? _weights!.Slice(from - ShardOffset, to - from) : _model.Parameters.Slice(from, to - from);
            kernels.AdamW(weights, _model.Gradients.Slice(from, to - from),
                _m.Slice(from - ShardOffset, to - from), _v.Slice(from - ShardOffset, to - from), to - from, step);
        }
        if (ShardsWeights) WeightsWritten();
        else
        {
            if (Sharded)
                using (Nvtx.Range("gather parameters"))
                    _collectives!.BroadcastFromOwners(_model.Parameters, _range);
            _model.ParametersChanged();
        }
        return norm;
    }

    /// <summary>
    /// Brings the model's compute weights up to date with <see cref="Weights"/>: when
    /// <see cref="ShardsWeights"/>, each rank rounds its range into its range of the bf16 copy and the
    /// ranges are gathered (every rank calls it); otherwise <see cref="LlamaModel.ParametersChanged"/>.
    /// </summary>
    public void WeightsWritten()
    {
        if (!ShardsWeights)
        {
            _model.ParametersChanged();
            return;
        }
        if (ShardLength > 0) _model.Kernels.Cast(_model.ComputeWeights.Slice(ShardOffset, ShardLength), Weights, ShardLength);
        using (Nvtx.Range("gather parameters"))
            _collectives!.BroadcastFromOwners(_model.ComputeWeights, _range);
    }

    /// <summary>
    /// Until the result is disposed, rank 0's model holds its whole master weights (<see cref="LlamaModel.Parameters"/>),
    /// gathered from every rank's range, so that rank 0 can save them as a model (a checkpoint
    /// candidate). Rank 0's parameter gradients are freed to make room (the next step allocates them
    /// again). Every rank calls it, between steps; when the weights are not sharded it does nothing.
    /// </summary>
    public IDisposable GatherWeightsToRoot()
    {
        if (!ShardsWeights) return new Lent(null);
        if (_world.IsRoot) _model.ReleaseGradients();
        var whole = _world.IsRoot ? _model.AllocateParameters() : null;
        // Through host memory whatever sums the gradients: what is gathered here is written from the host.
        new HostStagedCollectives(_model.Kernels, _world).GatherRanges(Weights, whole?.View, _range);
        return new Lent(whole is null ? null : _model);
    }

    private sealed class Lent(LlamaModel? model) : IDisposable
    {
        public void Dispose() => model?.ReleaseParameters();
    }

    /// <summary>
    /// Ends the sharding of the master weights (when <see cref="ShardsWeights"/>; otherwise nothing): every
    /// rank's model gets its whole master weights back, gathered from the ranks' ranges, and later
    /// updates write them there. The model's parameter gradients are freed first, so that the gathered
    /// weights fit where they were. Every rank calls it; a training run does when its last step is done.
    /// </summary>
    public void GatherWeights()
    {
        if (_weights is not { } mine) return;
        _model.ReleaseGradients();
        var whole = _model.AllocateParameters();
        if (ShardLength > 0) _model.Kernels.Copy(whole.Slice(ShardOffset, ShardLength), mine.Slice(0, ShardLength));
        using (Nvtx.Range("gather parameters"))
            _collectives!.BroadcastFromOwners(whole, _range);
        mine.Dispose();
        _weights = null;
    }

    /// <summary>Σ over the ranks' ranges, in rank order, of the range's Σ g² (each rank's own when sharded, all of them otherwise).</summary>
    private double SumSquaresOverRanges()
    {
        double Range(int rank)
        {
            var (from, count) = DeviceCollectives.OwnerRange(rank, _total, _range);
            return count > 0 ? _model.Kernels.SumSquares(_model.Gradients.Slice(from, count), count) : 0;
        }
        if (Sharded)
        {
            double[] sums = [Range(_world.Rank)];
            _world.AllReduceSum(sums);
            return sums[0];
        }
        double sum = Range(0);
        for (int r = 1; r < _world.Size; r++) sum += Range(r);
        return sum;
    }

    /// <summary>Restores the step count (with the moments loaded separately) when a run resumes.</summary>
    public void Restore(long step) => Step = step >= 0 ? step : throw new ArgumentOutOfRangeException(nameof(step));

    public void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
        _weights?.Dispose();
        if (_ownsCollectives) _collectives?.Dispose();
    }
}
