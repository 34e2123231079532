namespace FastSelfReward.Training;

/// <summary>
/// Watches the gradient norms (before clipping) of one training stage for an explosion: a norm or
/// loss that is not finite, or a norm more than <see cref="Factor"/> times the median of the norms
/// before it, once <see cref="History"/> of them have been seen. Clipping hides an explosion from
/// the loss for a while (each update stays short), so the norm is the early sign; the median keeps
/// one earlier spike from raising the baseline.
/// </summary>
public sealed class GradientNormWatch
{
    /// <summary>How many times the median of the earlier norms a norm must be to count as exploded.</summary>
    public const double Factor = 20;

    /// <summary>Earlier norms needed before the ratio is judged (the first steps of a run move fast).</summary>
    public const int History = 10;

    private readonly List<double> _sorted = [];
    private bool _warned;

    /// <summary>
    /// Takes one step's norm and loss; returns a description of the explosion the first time one is
    /// seen, and null otherwise (also after the first warning: a stage warns once).
    /// </summary>
    public string? Observe(long step, double norm, double? loss = null)
    {
        string? problem = null;
        if (!double.IsFinite(norm)) problem = FormattableString.Invariant($"the gradient norm at step {step} is {norm}");
        else if (loss is double l && !double.IsFinite(l)) problem = FormattableString.Invariant($"the loss at step {step} is {l}");
        else if (_sorted.Count >= History && norm > Factor * Median)
            problem = FormattableString.Invariant(
                $"the gradient norm at step {step} is {norm:G4} (before clipping), {norm / Median:F0} times the median {Median:G3} of the {_sorted.Count} steps before");
        if (double.IsFinite(norm))
        {
            int at = _sorted.BinarySearch(norm);
            _sorted.Insert(at < 0 ? ~at : at, norm);
        }
        if (problem is null || _warned) return null;
        _warned = true;
        return problem;
    }

    private double Median => _sorted.Count % 2 == 1 ? _sorted[_sorted.Count / 2] : 0.5 * (_sorted[_sorted.Count / 2 - 1] + _sorted[_sorted.Count / 2]);
}
