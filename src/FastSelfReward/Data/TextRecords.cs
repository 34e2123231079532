namespace FastSelfReward.Data;

/// <summary>A document of a language-modelling corpus: <c>{text}</c>.</summary>
public sealed record TextRecord(string Text);

/// <summary>A prompt to complete, with nothing else required: <c>{prompt}</c> (other fields are ignored).</summary>
public sealed record PromptTextRecord(string Prompt);
