using FastSelfReward.Text;

namespace FastSelfReward.Training;

/// <summary>
/// One training sequence. <see cref="LossMask"/>[i] says whether token i is predicted in the loss
/// (from tokens 0..i-1); null means every token but the first. For instruction tuning the prompt's
/// tokens are false and the answer's (its end-of-turn token included) are true.
/// </summary>
public sealed record LmExample(int[] Tokens, bool[]? LossMask = null)
{
    /// <summary>An instruction-tuning example from a rendered chat: prompt and answer tokens, the loss on the answer's (end-of-turn included).</summary>
    public static LmExample FromChat(ChatTokens chat) => new(chat.Ids, chat.LossMask());

    /// <summary>Whether token i counts in the loss.</summary>
    public bool IsTarget(int i) => i > 0 && (LossMask is null || LossMask[i]);

    /// <summary>Tokens that count in the loss.</summary>
    public int LossTokens
    {
        get
        {
            int count = 0;
            for (int i = 1; i < Tokens.Length; i++) if (IsTarget(i)) count++;
            return count;
        }
    }

    /// <summary>targets[i] = the token row i predicts when it counts in the loss, else -1.</summary>
    public int[] Targets()
    {
        var targets = new int[Tokens.Length];
        for (int i = 0; i < targets.Length; i++)
            targets[i] = i + 1 < targets.Length && IsTarget(i + 1) ? Tokens[i + 1] : -1;
        return targets;
    }

    /// <summary>Throws unless the mask matches the tokens.</summary>
    public LmExample Validate()
    {
        if (Tokens.Length == 0) throw new ArgumentException("a training example needs at least one token");
        if (LossMask is not null && LossMask.Length != Tokens.Length)
            throw new ArgumentException($"loss mask of {LossMask.Length} entries for {Tokens.Length} tokens");
        return this;
    }
}
