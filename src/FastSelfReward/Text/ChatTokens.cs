namespace FastSelfReward.Text;

/// <summary>
/// A rendered conversation: the prompt ids (ready for the assistant to answer) and the answer ids
/// (the answer's text and its end-of-turn token; empty when rendering for generation).
/// </summary>
public sealed record ChatTokens(IReadOnlyList<int> PromptIds, IReadOnlyList<int> AnswerIds)
{
    /// <summary>Where the answer starts in <see cref="Ids"/>; the loss covers positions from here on.</summary>
    public int PromptLength => PromptIds.Count;

    /// <summary>Prompt then answer.</summary>
    public int[] Ids => [.. PromptIds, .. AnswerIds];

    /// <summary>True exactly at the answer's positions (its tokens and its end-of-turn token).</summary>
    public bool[] LossMask()
    {
        var mask = new bool[PromptIds.Count + AnswerIds.Count];
        Array.Fill(mask, true, PromptIds.Count, AnswerIds.Count);
        return mask;
    }
}
