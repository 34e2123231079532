using System.Diagnostics;
using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>What one optimizer step did.</summary>
/// <param name="Step">Optimizer step (1-based).</param>
/// <param name="Loss">Mean cross-entropy per loss token over the whole step.</param>
/// <param name="GradNorm">Global gradient norm before clipping.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="LossTokens">Tokens that counted in the loss.</param>
/// <param name="Tokens">Tokens processed (prompt tokens included).</param>
/// <param name="Seconds">Wall time of the step.</param>
public sealed record StepMetrics(long Step, double Loss, double GradNorm, double LearningRate, long LossTokens, long Tokens, double Seconds);

/// <summary>
/// Causal language-model training with a loss mask: cross-entropy over the masked-in tokens,
/// gradient accumulation over micro-batches, AdamW with clipping and a learning-rate schedule.
/// The loss of a step is normalised by the loss tokens of the whole step, so k micro-batches of b
/// sequences give exactly the gradient of one batch of k·b.
/// </summary>
public sealed class CausalLmTrainer(LlamaModel model, AdamWOptimizer optimizer, LearningRateSchedule schedule)
{
    /// <summary>
    /// Adds to the model's gradients the gradient of the step's mean token cross-entropy and returns
    /// that loss. Gradients are not zeroed first.
    /// </summary>
    public double AccumulateGradients(IReadOnlyList<IReadOnlyList<LmExample>> microBatches)
    {
        long lossTokens = microBatches.Sum(mb => mb.Sum(e => (long)e.Validate().LossTokens));
        if (lossTokens == 0) throw new ArgumentException("the step has no loss tokens (every token is masked out)");
        double totalLogp = 0;
        foreach (var microBatch in microBatches)
        {
            var batch = TokenBatch.Pack(microBatch.Select(e => (IReadOnlyList<int>)e.Tokens).ToArray());
            var targets = new int[batch.Count];
            var weights = new double[batch.Count];
            int row = 0;
            foreach (var example in microBatch)
            {
                for (int i = 0; i < example.Tokens.Length; i++, row++)
                {
                    bool predicted = i + 1 < example.Tokens.Length && example.IsTarget(i + 1);
                    targets[row] = predicted ? example.Tokens[i + 1] : -1;
                    weights[row] = predicted ? -1.0 / lossTokens : 0.0;
                }
            }
            var logp = new double[batch.Count];
            model.Forward(batch, training: true);
            model.Backward(targets, weights, logp);
            foreach (double lp in logp) totalLogp += lp;
        }
        return -totalLogp / lossTokens;
    }

    /// <summary>One optimizer step over the given micro-batches.</summary>
    public StepMetrics Step(IReadOnlyList<IReadOnlyList<LmExample>> microBatches)
    {
        using var _ = Nvtx.Range("train step");
        var clock = Stopwatch.StartNew();
        model.ZeroGradients();
        double loss = AccumulateGradients(microBatches);
        double lr = schedule.At(optimizer.Step + 1);
        double norm = optimizer.Update(lr);
        long lossTokens = microBatches.Sum(mb => mb.Sum(e => (long)e.LossTokens));
        long tokens = microBatches.Sum(mb => mb.Sum(e => (long)e.Tokens.Length));
        return new StepMetrics(optimizer.Step, loss, norm, lr, lossTokens, tokens, clock.Elapsed.TotalSeconds);
    }
}
