namespace FastSelfReward.Training;

/// <summary>A deterministic train / held-out split of a dataset's indices.</summary>
public static class HeldOutSplit
{
    /// <summary>
    /// Permutes 0..count-1 with <paramref name="seed"/> and holds out the first ⌈fraction · count⌉
    /// (at most count - 1, so something is left to train on). Both parts are returned in ascending
    /// order, so the split depends only on (count, fraction, seed), never on the data's order of use.
    /// </summary>
    public static (int[] Train, int[] HeldOut) Indices(int count, double fraction, int seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must not be negative");
        if (!(fraction >= 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must lie in [0, 1)");
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        int heldOut = Math.Min((int)Math.Ceiling(fraction * count), Math.Max(0, count - 1));
        var held = order[..heldOut];
        var train = order[heldOut..];
        Array.Sort(held);
        Array.Sort(train);
        return (train, held);
    }
}
