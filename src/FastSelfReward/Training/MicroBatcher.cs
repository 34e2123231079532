namespace FastSelfReward.Training;

/// <summary>
/// Cuts a dataset into optimizer steps: each epoch is shuffled with a seed of its own, packed into
/// micro-batches of at most <c>microBatchTokens</c> tokens (an example longer than that travels
/// alone), and every <c>accumulation</c> micro-batches form one step.
/// </summary>
public static class MicroBatcher
{
    /// <summary>The steps of one epoch, deterministic in (seed, epoch).</summary>
    public static List<List<List<LmExample>>> Epoch(IReadOnlyList<LmExample> examples, int microBatchTokens, int accumulation, int seed, int epoch)
    {
        if (microBatchTokens <= 0) throw new ArgumentOutOfRangeException(nameof(microBatchTokens), microBatchTokens, "must be positive");
        if (accumulation <= 0) throw new ArgumentOutOfRangeException(nameof(accumulation), accumulation, "must be positive");
        var order = Enumerable.Range(0, examples.Count).ToArray();
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);

        var microBatches = Pack(order.Select(i => examples[i]), microBatchTokens);
        return microBatches.Chunk(accumulation).Select(step => step.ToList()).ToList();
    }

    /// <summary>Greedy packing in order: a micro-batch closes when the next example would pass the token budget.</summary>
    public static List<List<LmExample>> Pack(IEnumerable<LmExample> examples, int microBatchTokens)
    {
        var microBatches = new List<List<LmExample>>();
        var current = new List<LmExample>();
        int tokens = 0;
        foreach (var example in examples)
        {
            if (current.Count > 0 && tokens + example.Tokens.Length > microBatchTokens)
            {
                microBatches.Add(current);
                current = [];
                tokens = 0;
            }
            current.Add(example);
            tokens += example.Tokens.Length;
        }
        if (current.Count > 0) microBatches.Add(current);
        return microBatches;
    }
}
