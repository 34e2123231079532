using FastSelfReward.Compute;
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
/// update as a gradient scale. The first and second moments live in two flat buffers with the
/// parameters' layout and type (fp32 master weights in a bf16 model, whose compute copy is refreshed
/// after every update); weight decay applies to matrices only, never to norm gains.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    private readonly LlamaModel _model;
    private readonly DeviceBuffer _m, _v;

    public AdamWOptimizer(LlamaModel model, AdamWOptions options)
    {
        _model = model;
        Options = options;
        _m = model.Kernels.Allocate(model.Layout.TotalLength, model.Parameters.View.Type);
        _v = model.Kernels.Allocate(model.Layout.TotalLength, model.Parameters.View.Type);
    }

    public AdamWOptions Options { get; }

    /// <summary>Updates taken so far (the bias-correction step count).</summary>
    public long Step { get; private set; }

    /// <summary>First moments (for checkpoints).</summary>
    public Tensor FirstMoments => _m;

    /// <summary>Second moments (for checkpoints).</summary>
    public Tensor SecondMoments => _v;

    /// <summary>√(Σ g²) over every parameter gradient.</summary>
    public double GradientNorm() => Math.Sqrt(_model.Kernels.SumSquares(_model.Gradients, _model.Layout.TotalLength));

    /// <summary>
    /// One update at the given learning rate; returns the gradient norm before clipping. Gradients
    /// are left as they are (the caller zeroes them for the next step).
    /// </summary>
    public double Update(double learningRate)
    {
        using var _ = Nvtx.Range("optimizer step");
        double norm = GradientNorm();
        if (!double.IsFinite(norm))
            throw new InvalidOperationException($"gradient norm is {norm} at step {Step + 1}: the update was skipped and the weights are unchanged");
        double scale = Options.MaxGradNorm > 0 && norm > Options.MaxGradNorm ? Options.MaxGradNorm / norm : 1.0;
        Step++;
        var kernels = _model.Kernels;
        foreach (var entry in _model.Layout.Entries)
        {
            var step = new AdamWStep(learningRate, Options.Beta1, Options.Beta2, Options.Epsilon,
                entry.Decay ? Options.WeightDecay : 0.0, scale, Step);
            kernels.AdamW(_model.Parameters.Slice(entry.Offset, entry.Count), _model.Gradients.Slice(entry.Offset, entry.Count),
                _m.Slice(entry.Offset, entry.Count), _v.Slice(entry.Offset, entry.Count), entry.Count, step);
        }
        _model.ParametersChanged();
        return norm;
    }

    /// <summary>Restores the step count (with the moments loaded separately) when a run resumes.</summary>
    public void Restore(long step) => Step = step >= 0 ? step : throw new ArgumentOutOfRangeException(nameof(step));

    public void Dispose()
    {
        _m.Dispose();
        _v.Dispose();
    }
}
