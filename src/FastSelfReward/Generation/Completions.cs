using FastSelfReward.Model;
using FastSelfReward.Text;

namespace FastSelfReward.Generation;

/// <summary>Where completions end and what text they hold: one rule for the loop, the evaluations and <c>fsr generate</c>.</summary>
public static class Completions
{
    /// <summary>
    /// The ids that end a completion: the model's end-of-sequence ids (config.json), the tokenizer's,
    /// and the chat template's end-of-turn ids when the prompts go through one.
    /// </summary>
    public static IReadOnlyList<int> StopIds(LlamaConfig config, ITextTokenizer tokenizer, ChatTemplate? template) =>
        [.. (template?.StopIds ?? []).Concat(config.EosTokenIds).Concat(tokenizer.EosId is int eos ? [eos] : []).Distinct()];

    /// <summary>The completion's text: its tokens decoded, the stop token it ended with left out.</summary>
    public static string Text(GeneratedSequence sequence, ITextTokenizer tokenizer) =>
        tokenizer.Decode(sequence.FinishReason == FinishReason.Stop ? sequence.Tokens[..^1] : sequence.Tokens);
}
