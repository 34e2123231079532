using FastSelfReward.Model;
using FastSelfReward.Text;

namespace FastSelfReward.Training;

/// <summary>
/// One DPO preference: a prompt rendered by the chat template and two answers to it (each its
/// text's ids then the end-of-turn token). Only the answers' tokens are scored; the prompt is context.
/// </summary>
public sealed record PreferencePair(int[] PromptIds, int[] ChosenIds, int[] RejectedIds)
{
    /// <summary>Renders prompt, chosen and rejected answer with <paramref name="template"/>.</summary>
    public static PreferencePair Render(ChatTemplate template, string prompt, string chosen, string rejected)
    {
        var a = template.Render(prompt, chosen);
        var b = template.Render(prompt, rejected);
        return new([.. a.PromptIds], [.. a.AnswerIds], [.. b.AnswerIds]);
    }

    /// <summary>Prompt then chosen answer.</summary>
    public int[] ChosenSequence => [.. PromptIds, .. ChosenIds];

    /// <summary>Prompt then rejected answer.</summary>
    public int[] RejectedSequence => [.. PromptIds, .. RejectedIds];

    /// <summary>Tokens of both sequences.</summary>
    public int Tokens => 2 * PromptIds.Length + ChosenIds.Length + RejectedIds.Length;

    /// <summary>Throws unless both sequences can be scored by a model of <paramref name="config"/>.</summary>
    public PreferencePair Validate(LlamaConfig config, int index)
    {
        if (PromptIds.Length == 0) throw new ArgumentException($"pair {index}: the prompt is empty (the first answer token needs context)");
        if (ChosenIds.Length == 0 || RejectedIds.Length == 0) throw new ArgumentException($"pair {index}: an answer is empty");
        int longest = PromptIds.Length + Math.Max(ChosenIds.Length, RejectedIds.Length);
        if (longest > config.MaxPositionEmbeddings)
            throw new ArgumentException($"pair {index}: {longest} tokens, more than max_position_embeddings {config.MaxPositionEmbeddings}");
        return this;
    }
}
