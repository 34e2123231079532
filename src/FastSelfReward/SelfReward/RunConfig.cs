using System.Text.Json;
using System.Text.Json.Serialization;
using FastSelfReward.Compute;
using FastSelfReward.Generation;
using FastSelfReward.Training;

namespace FastSelfReward.SelfReward;

/// <summary>How the EFT (judge training) set is made.</summary>
public enum EftMode
{
    /// <summary>The EFT file carries gold judgments (a justification ending with <c>Score: N</c>) per response.</summary>
    Gold,
    /// <summary>The SFT baseline judges each ranked response; judgments whose scores order the responses as the humans did are kept.</summary>
    Model,
}

/// <summary>Self-instruction: k-shot prompt writing and its filters (paper: 8-shot, T 0.6, p 0.9).</summary>
public sealed record PromptsConfig
{
    /// <summary>Prompts to accept per iteration.</summary>
    public int Count { get; init; } = 1000;
    /// <summary>Generation attempts allowed per accepted prompt before the stage gives up short.</summary>
    public int MaxAttemptsPerPrompt { get; init; } = 10;
    public int Shots { get; init; } = 8;
    public int MinWords { get; init; } = 3;
    public int MaxWords { get; init; } = 150;
    public double MaxRougeL { get; init; } = 0.7;
    /// <summary>A checkpoint folder that writes the prompts instead of the current model (the paper used a separate chat model).</summary>
    public string? PromptModel { get; init; }
    public SamplingOptions Sampling { get; init; } = new() { Temperature = 0.6, TopP = 0.9, MaxTokens = 128 };
}

/// <summary>The whole configuration of a run, written once to run.json; a rerun must agree with it.</summary>
public sealed record RunConfig
{
    /// <summary>M0: a Hugging Face checkpoint folder with its tokenizer.</summary>
    public string BaseModel { get; init; } = "";
    /// <summary>Chat template name, or "auto" to detect it from the tokenizer.</summary>
    public string Template { get; init; } = "auto";
    /// <summary>IFT data, <c>{prompt, response}</c> JSONL.</summary>
    public string Ift { get; init; } = "";
    /// <summary>Ranked EFT data, <c>{prompt, responses: [{text, rank, judgment?}]}</c> JSONL.</summary>
    public string Eft { get; init; } = "";
    public EftMode EftMode { get; init; } = EftMode.Gold;
    /// <summary>Evaluation prompts, <c>{prompt}</c> JSONL, excluded from every generated prompt (exact and ROUGE-L).</summary>
    public string? ExcludePrompts { get; init; }
    /// <summary>A judge template file with {prompt} and {response}; null uses the built-in one.</summary>
    public string? JudgeTemplate { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Self-rewarding iterations after M1 (the paper ran two: M2 and M3).</summary>
    public int Iterations { get; init; } = 2;
    /// <summary>Most sequences decoded at once.</summary>
    public int GenerationRows { get; init; } = 64;
    /// <summary>Prompts whose generations are appended to an artifact at once (a killed run loses at most one such batch).</summary>
    public int GenerationBatch { get; init; } = 16;

    /// <summary>Training of the SFT baseline and M1.</summary>
    public SftOptions Sft { get; init; } = new();
    /// <summary>DPO of each iteration.</summary>
    public DpoOptions Dpo { get; init; } = new();
    public PromptsConfig Prompts { get; init; } = new();
    /// <summary>Candidate answers per prompt and their sampling (paper: 4, T 0.7, p 0.9).</summary>
    public int Candidates { get; init; } = 4;
    public SamplingOptions CandidateSampling { get; init; } = new();
    /// <summary>Judge samples per answer, averaged (paper: 3).</summary>
    public int JudgeSamples { get; init; } = 3;
    /// <summary>The judge's sampling; its token budget covers the justification (≤ 100 words) and the score line.</summary>
    public SamplingOptions JudgeSampling { get; init; } = new() { MaxTokens = 192 };

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Reads a configuration; unknown fields are errors (a typo must not silently become a default).</summary>
    public static RunConfig Load(string path)
    {
        try
        {
            var config = JsonSerializer.Deserialize<RunConfig>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path}: the configuration is null");
            return config.Validate(path).Resolve(Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The run.json field paths (such as <c>sft.epochs</c>) whose values differ between this configuration and <paramref name="other"/>.</summary>
    public IReadOnlyList<string> DifferencesFrom(RunConfig other)
    {
        var differences = new List<string>();
        Compare(JsonSerializer.SerializeToNode(this, Json), JsonSerializer.SerializeToNode(other, Json), "");
        return differences;

        void Compare(System.Text.Json.Nodes.JsonNode? a, System.Text.Json.Nodes.JsonNode? b, string path)
        {
            if (a is System.Text.Json.Nodes.JsonObject x && b is System.Text.Json.Nodes.JsonObject y)
            {
                foreach (string key in x.Select(p => p.Key).Union(y.Select(p => p.Key)))
                    Compare(x[key], y[key], path.Length == 0 ? key : $"{path}.{key}");
            }
            else if (!System.Text.Json.Nodes.JsonNode.DeepEquals(a, b)) differences.Add(path);
        }
    }

    /// <summary>Paths made absolute against <paramref name="directory"/>, so run.json stays valid from any working directory.</summary>
    public RunConfig Resolve(string directory)
    {
        string? Abs(string? p) => string.IsNullOrEmpty(p) ? p : Path.GetFullPath(p, directory);
        return this with
        {
            BaseModel = Abs(BaseModel)!, Ift = Abs(Ift)!, Eft = Abs(Eft)!, ExcludePrompts = Abs(ExcludePrompts),
            JudgeTemplate = Abs(JudgeTemplate), Prompts = Prompts with { PromptModel = Abs(Prompts.PromptModel) },
        };
    }

    /// <summary>Throws naming the field when a value is missing or out of range.</summary>
    public RunConfig Validate(string source = "run config")
    {
        void Require(bool ok, string field, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {field}: {message}");
        }
        foreach (var (section, field) in new (object?, string)[]
                 {
                     (Sft, "sft"), (Dpo, "dpo"), (Prompts, "prompts"), (Prompts?.Sampling, "prompts.sampling"),
                     (CandidateSampling, "candidate_sampling"), (JudgeSampling, "judge_sampling"),
                 })
            Require(section is not null, field, "must be an object, not null");
        Require(BaseModel is { Length: > 0 }, "base_model", "required (a checkpoint folder)");
        Require(Ift is { Length: > 0 }, "ift", "required (IFT JSONL)");
        Require(Eft is { Length: > 0 }, "eft", "required (ranked EFT JSONL)");
        Require(Iterations >= 0, "iterations", "must be ≥ 0");
        Require(Candidates >= 2, "candidates", "at least two answers are needed to form a pair");
        Require(JudgeSamples >= 1, "judge_samples", "must be ≥ 1");
        Require(GenerationRows >= Math.Max(Candidates, JudgeSamples), "generation_rows", "must hold every candidate (or judge sample) of one prompt");
        Require(GenerationBatch >= 1, "generation_batch", "must be ≥ 1");
        Require(Prompts!.Count >= 1 && Prompts.Shots >= 1, "prompts", "count and shots must be ≥ 1");
        void Section(string field, Action validate)
        {
            try
            {
                validate();
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{source}: {field}.{e.Message}", e);
            }
        }
        Section("sft", () => Sft.Validate());
        Section("dpo", () => Dpo.Validate());
        Section("prompts.sampling", () => Prompts!.Sampling.Validate());
        Section("candidate_sampling", () => CandidateSampling.Validate());
        Section("judge_sampling", () => JudgeSampling.Validate());
        return this;
    }
}
