using FastSelfReward.Generation;

namespace FastSelfReward.Data;

// The artifacts of a run, one JSON object per line. Properties map to snake_case names
// (ScoreChosen -> score_chosen) through Jsonl's naming policy. Every non-nullable property
// is required on read: a missing or null field is a bad record, never a silent default.

/// <summary>An instruction-following example: <c>{prompt, response}</c>.</summary>
public sealed record IftRecord(string Prompt, string Response) : IJsonlRecord
{
    string? IJsonlRecord.Problem() => JsonlChecks.NotBlank(Prompt, "prompt") ?? JsonlChecks.NotBlank(Response, "response");
}

/// <summary>
/// One answer of a ranked set: its text, its human rank (0 is best; equal ranks are a human tie),
/// and optionally a gold judgment (justification ending with a <c>Score:</c> line) for the gold EFT mode.
/// </summary>
public sealed record RankedResponse(string Text, int Rank, string? Judgment = null);

/// <summary>A ranked evaluation-fine-tuning set: <c>{prompt, responses: [{text, rank}]}</c>, best rank first.</summary>
public sealed record EftRecord(string Prompt, IReadOnlyList<RankedResponse> Responses) : IJsonlRecord
{
    string? IJsonlRecord.Problem()
    {
        if (JsonlChecks.NotBlank(Prompt, "prompt") is string p) return p;
        for (int i = 0; i < Responses.Count; i++)
        {
            if (Responses[i] is null) return $"responses[{i}]: must be an object";
            if (Responses[i].Rank < 0) return $"responses[{i}].rank: must be ≥ 0, got {Responses[i].Rank}";
        }
        return Responses.Count < 2 ? "responses: a ranked set needs at least two responses" : null;
    }
}

/// <summary>A judge training example: the full rendered judge prompt and the judgment (justification and <c>Score:</c> line).</summary>
public sealed record JudgeExample(string Prompt, string Response) : IJsonlRecord
{
    string? IJsonlRecord.Problem() => JsonlChecks.NotBlank(Prompt, "prompt") ?? JsonlChecks.NotBlank(Response, "response");
}

/// <summary>A prompt of an iteration: <c>{id, prompt, source}</c>; source says where it came from (e.g. self-instruct, ift).</summary>
public sealed record PromptRecord(string Id, string Prompt, string Source) : IJsonlRecord
{
    string? IJsonlRecord.Problem() => JsonlChecks.NotBlank(Id, "id") ?? JsonlChecks.NotBlank(Prompt, "prompt");
}

/// <summary>The sampled answers to one prompt, with why each ended: <c>{id, prompt, candidates, finish_reasons}</c>.</summary>
public sealed record CandidatesRecord(string Id, string Prompt, IReadOnlyList<string> Candidates, IReadOnlyList<FinishReason> FinishReasons) : IJsonlRecord
{
    string? IJsonlRecord.Problem()
    {
        if (JsonlChecks.NotBlank(Id, "id") is string p) return p;
        if (Candidates.Any(c => c is null)) return "candidates: an entry is null";
        return Candidates.Count == FinishReasons.Count ? null
            : $"finish_reasons: {FinishReasons.Count} entries for {Candidates.Count} candidates";
    }
}

/// <summary>One sampled judgment: the judge's text and its parsed score, null when it did not parse.</summary>
public sealed record JudgeSample(string Text, double? Score);

/// <summary>
/// The judgments of one candidate: <c>{id, candidate, samples, mean}</c>; <c>candidate</c> indexes the
/// prompt's candidates and <c>mean</c> is over the parsed samples only (null when none parsed).
/// </summary>
public sealed record JudgmentRecord(string Id, int Candidate, IReadOnlyList<JudgeSample> Samples, double? Mean) : IJsonlRecord
{
    string? IJsonlRecord.Problem()
    {
        if (JsonlChecks.NotBlank(Id, "id") is string p) return p;
        if (Candidate < 0) return $"candidate: must be ≥ 0, got {Candidate}";
        for (int i = 0; i < Samples.Count; i++)
            if (Samples[i] is null) return $"samples[{i}]: must be an object";
            else if (Samples[i].Score is double s && !(s >= 0 && s <= 5)) return $"samples[{i}].score: must lie in [0, 5], got {s}";
        return Mean is double m && !(m >= 0 && m <= 5) ? $"mean: must lie in [0, 5], got {m}" : null;
    }
}

/// <summary>A preference pair for DPO, with TRL's field names: <c>{prompt, chosen, rejected, score_chosen, score_rejected}</c>.</summary>
public sealed record PairRecord(string Prompt, string Chosen, string Rejected, double ScoreChosen, double ScoreRejected) : IJsonlRecord
{
    string? IJsonlRecord.Problem() =>
        JsonlChecks.NotBlank(Prompt, "prompt") ?? JsonlChecks.NotBlank(Chosen, "chosen") ?? JsonlChecks.NotBlank(Rejected, "rejected")
        ?? (ScoreChosen > ScoreRejected ? null : $"score_chosen: must exceed score_rejected ({ScoreChosen} ≤ {ScoreRejected})");
}

/// <summary>A record that checks rules a JSON schema cannot (counts that must agree, ranges).</summary>
internal interface IJsonlRecord
{
    /// <summary>"field: what is wrong", or null when the record is sound.</summary>
    string? Problem();
}

internal static class JsonlChecks
{
    public static string? NotBlank(string value, string field) =>
        string.IsNullOrWhiteSpace(value) ? $"{field}: must not be empty" : null;
}
