namespace FastSelfReward.Training;

/// <summary>
/// Linear warmup from 0 to <see cref="Peak"/> over <see cref="WarmupSteps"/>, then cosine decay to
/// <see cref="Minimum"/> at <see cref="TotalSteps"/> (the paper's SFT decays 5.5e-6 to 1.1e-6).
/// Steps count from 1.
/// </summary>
public sealed record LearningRateSchedule(double Peak, double Minimum, int WarmupSteps, int TotalSteps)
{
    /// <summary>The learning rate of optimizer step <paramref name="step"/> (1-based).</summary>
    public double At(long step)
    {
        if (step <= 0) throw new ArgumentOutOfRangeException(nameof(step), step, "steps count from 1");
        if (step <= WarmupSteps) return Peak * step / WarmupSteps;
        if (TotalSteps <= WarmupSteps) return Peak;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps));
        return Minimum + 0.5 * (Peak - Minimum) * (1 + Math.Cos(Math.PI * progress));
    }
}
