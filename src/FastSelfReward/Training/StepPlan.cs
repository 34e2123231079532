namespace FastSelfReward.Training;

/// <summary>How a run cuts its examples into steps.</summary>
internal abstract record StepShape(int? MicroBatchTokens);

/// <summary>Steps of a fixed number of examples, optionally sorted by length within windows of <paramref name="BucketSteps"/> steps.</summary>
internal sealed record ExampleSteps(int ExamplesPerStep, int? MicroBatchTokens, int? BucketSteps) : StepShape(MicroBatchTokens);

/// <summary>Steps of at most <paramref name="BatchTokens"/> tokens: the epoch packed into micro-batches, grouped.</summary>
internal sealed record TokenSteps(int BatchTokens, int? MicroBatchTokens) : StepShape(MicroBatchTokens)
{
    public int MicroBudget => Math.Min(MicroBatchTokens ?? BatchTokens, BatchTokens);
    public int Accumulation => (BatchTokens + MicroBudget - 1) / MicroBudget;
}

/// <summary>
/// Cuts a training set into optimizer steps, each a list of micro-batches, as a pure function of
/// (examples, shape, seed, epoch): a resumed run replans the epoch it stopped in and finds the same steps.
/// </summary>
internal static class StepPlan
{
    /// <summary>The generator that orders epoch <paramref name="epoch"/> of a run seeded <paramref name="seed"/>.</summary>
    public static Random EpochRandom(int seed, int epoch) => new(unchecked(seed * 1_000_003 + epoch));

    /// <summary>
    /// One epoch's steps. The examples are shuffled. <see cref="TokenSteps"/>: the whole epoch is
    /// packed into micro-batches and every <see cref="TokenSteps.Accumulation"/> of them form a step.
    /// <see cref="ExampleSteps"/>: consecutive examples form steps; with buckets, each window of
    /// that many steps is sorted by length first (stable, so equal lengths keep the shuffled order)
    /// and the steps are shuffled again, so a step's examples are of similar length (its micro-batches
    /// fill their budget evenly and attention's work is balanced) while the epoch's order stays random.
    /// Each step is then packed greedily into micro-batches.
    /// </summary>
    public static List<List<T[]>> Epoch<T>(IReadOnlyList<T> examples, Func<T, int> tokens, StepShape shape, int seed, int epoch)
    {
        var random = EpochRandom(seed, epoch);
        var order = Enumerable.Range(0, examples.Count).ToArray();
        random.Shuffle(order);
        switch (shape)
        {
            case TokenSteps byTokens:
                return Pack(order.Select(i => examples[i]), tokens, byTokens.MicroBudget).Chunk(byTokens.Accumulation).Select(step => step.ToList()).ToList();
            case ExampleSteps { BucketSteps: null } byCount:
                return order.Chunk(byCount.ExamplesPerStep).Select(step => Pack(step.Select(i => examples[i]), tokens, shape.MicroBatchTokens)).ToList();
            case ExampleSteps { BucketSteps: int bucket } byCount:
                var steps = new List<T[]>();
                foreach (var window in order.Chunk(byCount.ExamplesPerStep * bucket))
                    steps.AddRange(window.Select(i => examples[i]).OrderBy(tokens).Chunk(byCount.ExamplesPerStep));
                var stepOrder = steps.ToArray();
                random.Shuffle(stepOrder);
                return stepOrder.Select(step => Pack(step, tokens, shape.MicroBatchTokens)).ToList();
            default:
                throw new ArgumentException($"unknown step shape {shape}", nameof(shape));
        }
    }

    /// <summary>
    /// Greedy packing in order: a micro-batch closes when the next item would pass <paramref name="budget"/>
    /// tokens (an item longer than that travels alone); a null budget packs everything into one.
    /// </summary>
    public static List<T[]> Pack<T>(IEnumerable<T> items, Func<T, int> tokens, int? budget)
    {
        var microBatches = new List<T[]>();
        var current = new List<T>();
        long used = 0;
        foreach (var item in items)
        {
            int size = tokens(item);
            if (current.Count > 0 && budget is int limit && used + size > limit)
            {
                microBatches.Add([.. current]);
                current.Clear();
                used = 0;
            }
            current.Add(item);
            used += size;
        }
        if (current.Count > 0) microBatches.Add([.. current]);
        return microBatches;
    }
}
