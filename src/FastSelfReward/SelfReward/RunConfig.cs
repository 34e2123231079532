using System.Text.Json;
using System.Text.Json.Serialization;
using FastSelfReward.Compute;
using FastSelfReward.Data;
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

/// <summary>What becomes of a candidate answer that hit <c>candidate_sampling.max_tokens</c> before its stop token.</summary>
public enum TruncatedAnswers
{
    /// <summary>Judged and paired as it is, as the paper's loop treats every answer (its budget is meant to be rarely reached).</summary>
    Keep,
    /// <summary>Judged (its scores are recorded) but never chosen or rejected.</summary>
    Unpaired,
    /// <summary>Neither judged nor paired.</summary>
    Drop,
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
    /// <summary>
    /// A checkpoint folder that writes the prompts instead of the current model (the paper used a
    /// fixed Llama 2-Chat 70B). It brings its own tokenizer files, with which its prompts are
    /// encoded and its output decoded, and its own end-of-sequence and end-of-turn ids.
    /// </summary>
    public string? PromptModel { get; init; }
    /// <summary>The prompt writer's chat template (its end-of-turn ids stop a prompt), or "auto" to detect it from the writer's tokenizer.</summary>
    public string PromptModelTemplate { get; init; } = "auto";
    public SamplingOptions Sampling { get; init; } = new() { Temperature = 0.6, TopP = 0.9, MaxTokens = 128 };

    /// <summary>Every value out of range: the field (within <c>prompts</c>) and what is wrong with it.</summary>
    public IEnumerable<(string Field, string Message)> Problems()
    {
        if (Count < 1) yield return ("count", $"must be at least 1, got {Count}");
        if (MaxAttemptsPerPrompt < 1) yield return ("max_attempts_per_prompt", $"must be at least 1, got {MaxAttemptsPerPrompt}");
        if (Shots < 1) yield return ("shots", $"must be at least 1, got {Shots}");
        if (MinWords < 0) yield return ("min_words", $"must be ≥ 0, got {MinWords}");
        if (MaxWords < MinWords) yield return ("max_words", $"must be at least min_words ({MinWords}), got {MaxWords}");
        if (!(MaxRougeL > 0 && MaxRougeL <= 1)) yield return ("max_rouge_l", $"must lie in (0, 1], got {MaxRougeL.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        if (Sampling is null) yield return ("sampling", "must be an object, not null");
        else foreach (var (field, message) in Sampling.Problems()) yield return ($"sampling.{field}", message);
    }
}

/// <summary>Which checkpoint the candidates of a training stage are compared with.</summary>
public enum SelectionBaseline
{
    /// <summary>The last step's: an earlier checkpoint is kept only when the judge prefers it to the last.</summary>
    Final,
    /// <summary>The model the stage started from (M0 for the SFT baseline and M1, Mt for DPO): every candidate, the last included, is scored against it.</summary>
    Initial,
}

/// <summary>How the selection judge compares a candidate's answer with the baseline's.</summary>
public enum SelectionVerdicts
{
    /// <summary>Both answers in one prompt, in both orders, with a verdict line (as the paper's judge, Claude 2, compared checkpoints).</summary>
    Pairwise,
    /// <summary>Each answer scored alone with the run's judge template, the rubric the run's models are trained on; the higher mean wins.</summary>
    Scores,
}

/// <summary>The storage type of the models a run saves.</summary>
public enum ModelDtype
{
    /// <summary>Exact: a saved model loads with the weights training ended with, to the bit.</summary>
    Float32,
    /// <summary>Half the size, rounded to nearest even; the next stage starts from the rounded weights.</summary>
    Bfloat16,
}

/// <summary>
/// Checkpoint selection, as the paper did it (a checkpoint every 200 steps, the one a pairwise judge
/// prefers on held-out prompts kept): a training stage saves its weights every K steps and after the
/// last; each candidate answers the selection prompts; a judge compares its answers with the
/// baseline's in both orders (<see cref="Evaluation.HeadToHead"/>); the candidate with the highest
/// preference, wins plus half the ties over the valid prompts, becomes the stage's model (ties go to
/// the later step). Off unless <see cref="SftEvery"/> or <see cref="DpoEvery"/> is set.
/// </summary>
public sealed record SelectionConfig
{
    /// <summary>Steps between candidates of the SFT baseline and M1 (0: no selection, the last step is the model).</summary>
    public int SftEvery { get; init; }
    /// <summary>Steps between candidates of each DPO stage (0: no selection).</summary>
    public int DpoEvery { get; init; }
    public SelectionBaseline Against { get; init; } = SelectionBaseline.Final;
    /// <summary>A prompt file (<c>{prompt}</c> JSONL or one a line); null: the user prompts of the stage's held-out examples.</summary>
    public string? Prompts { get; init; }
    /// <summary>Most selection prompts, the first ones (the paper used 253).</summary>
    public int MaxPrompts { get; init; } = 253;
    /// <summary>
    /// A checkpoint folder that judges; null: the run's own judge, Mt for DPO (the model that judged the
    /// iteration's answers) and the last checkpoint for the SFT baseline and M1 (M0 was never taught to judge).
    /// </summary>
    public string? Judge { get; init; }
    /// <summary>
    /// How the judge compares (default pairwise, as in the paper). A run's own models learn the
    /// scoring rubric, not the pairwise prompt: with the run's own judge, <c>scores</c> asks what they know.
    /// </summary>
    public SelectionVerdicts Verdicts { get; init; } = SelectionVerdicts.Pairwise;
    /// <summary>The chat template of <see cref="Judge"/>, or "auto" to detect it from its tokenizer.</summary>
    public string JudgeTemplate { get; init; } = "auto";
    /// <summary>The candidates' answers: greedy, 1,024 new tokens by default, as the candidates stage's budget.</summary>
    public SamplingOptions Sampling { get; init; } = new() { Temperature = 0, TopP = 1, MaxTokens = 1024 };
    /// <summary>The judge's verdicts or scores: greedy, 512 new tokens by default (sampled scores are judge_samples per answer, averaged).</summary>
    public SamplingOptions JudgeSampling { get; init; } = new() { Temperature = 0, TopP = 1, MaxTokens = 512 };
    /// <summary>Keep every candidate's weights after the choice (by default only the chosen one stays, as the stage's model).</summary>
    public bool KeepCheckpoints { get; init; }

    /// <summary>Every value out of range: the field (within <c>checkpoint_selection</c>) and what is wrong with it.</summary>
    public IEnumerable<(string Field, string Message)> Problems()
    {
        if (SftEvery < 0) yield return ("sft_every", $"must be ≥ 0 (0: no selection), got {SftEvery}");
        if (DpoEvery < 0) yield return ("dpo_every", $"must be ≥ 0 (0: no selection), got {DpoEvery}");
        if (MaxPrompts < 1) yield return ("max_prompts", $"must be at least 1, got {MaxPrompts}");
        foreach (var (section, sampling) in new[] { ("sampling", Sampling), ("judge_sampling", JudgeSampling) })
        {
            if (sampling is null) yield return (section, "must be an object, not null");
            else foreach (var (field, message) in sampling.Problems()) yield return ($"{section}.{field}", message);
        }
    }
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
    /// <summary>
    /// The candidates' sampling. 1,024 new tokens by default: the paper's M3 answers average about
    /// 2,500 characters (some 600 Llama tokens) and grow with the iterations, so a smaller budget
    /// would cut the long answers the method is meant to produce.
    /// </summary>
    public SamplingOptions CandidateSampling { get; init; } = new() { MaxTokens = 1024 };
    /// <summary>What becomes of a candidate that hit its token budget (default: judged and paired as it is, as in the paper).</summary>
    public TruncatedAnswers TruncatedAnswers { get; init; } = TruncatedAnswers.Keep;
    /// <summary>Judge samples per answer, averaged (paper: 3).</summary>
    public int JudgeSamples { get; init; } = 3;
    /// <summary>
    /// The judge's sampling. 512 new tokens by default: the rubric asks for at most 100 words and a
    /// score line, but chat models often write more, and a judgment cut before its <c>Score:</c> line is lost.
    /// </summary>
    public SamplingOptions JudgeSampling { get; init; } = new() { MaxTokens = 512 };
    /// <summary>Checkpoint selection of the training stages (off by default).</summary>
    public SelectionConfig CheckpointSelection { get; init; } = new();
    /// <summary>The storage type of the models the run saves (models/*, selection candidates); training states stay float32.</summary>
    public ModelDtype ModelDtype { get; init; } = ModelDtype.Float32;

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>
    /// Reads a configuration and checks all of it before anything runs: its JSON, every field's
    /// name (a typo must not silently become a default) and kind of value, every range, and that
    /// the files and folders it names exist. Paths are made absolute against the file's folder.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// Anything is wrong; the message lists every mistake, one a line, as <c>FILE:LINE: field what</c>.
    /// </exception>
    public static RunConfig Load(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw Invalid(path, [JsonFields.Syntax(e)]);
        }
        var lines = JsonFields.Lines(bytes);
        using (document)
        {
            var shape = JsonFields.Check<RunConfig>(document.RootElement, JsonNamingPolicy.SnakeCaseLower, lines);
            if (shape.Count > 0) throw Invalid(path, shape);
        }
        RunConfig config;
        try
        {
            config = JsonSerializer.Deserialize<RunConfig>(bytes, Json)!;
        }
        catch (JsonException e)
        {
            throw Invalid(path, [new FieldProblem("the file", (int)(e.LineNumber ?? 0) + 1, "could not be read: " + e.Message)]);
        }
        config = config.Resolve(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var problems = config.Problems(checkFiles: true)
            .Select(p => new FieldProblem(p.Field, LineOf(p.Field, lines), p.Message)).ToList();
        if (problems.Count > 0) throw Invalid(path, problems);
        return config;
    }

    /// <summary>The line of a field, or of the nearest section around it that the file has; 0 when none.</summary>
    private static int LineOf(string field, IReadOnlyDictionary<string, int> lines)
    {
        for (string path = field; path.Length > 0; path = path.Contains('.') ? path[..path.LastIndexOf('.')] : "")
            if (lines.TryGetValue(path, out int line)) return line;
        return 0;
    }

    private static InvalidDataException Invalid(string source, IReadOnlyList<FieldProblem> problems)
    {
        problems = [.. problems.OrderBy(p => p.Line == 0 ? int.MaxValue : p.Line)];
        return new(problems.Count == 1 ? problems[0].Describe(source)
            : $"{source}: {problems.Count} mistakes:\n" + string.Join("\n", problems.Select(p => "  " + p.Describe(source))));
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
            CheckpointSelection = CheckpointSelection with { Prompts = Abs(CheckpointSelection.Prompts), Judge = Abs(CheckpointSelection.Judge) },
        };
    }

    /// <summary>
    /// Every value that is missing or out of range, as (run.json field, what is wrong); with
    /// <paramref name="checkFiles"/>, also every file or folder named that does not exist.
    /// </summary>
    public IEnumerable<(string Field, string Message)> Problems(bool checkFiles = false)
    {
        var sections = new (object? Value, string Field)[]
        {
            (Sft, "sft"), (Dpo, "dpo"), (Prompts, "prompts"), (CandidateSampling, "candidate_sampling"), (JudgeSampling, "judge_sampling"),
            (CheckpointSelection, "checkpoint_selection"),
        };
        foreach (var (value, field) in sections)
            if (value is null) yield return (field, "must be an object, not null");
        if (BaseModel is not { Length: > 0 }) yield return ("base_model", "is required (a checkpoint folder)");
        if (Ift is not { Length: > 0 }) yield return ("ift", "is required (IFT JSONL)");
        if (Eft is not { Length: > 0 }) yield return ("eft", "is required (ranked EFT JSONL)");
        if (Iterations < 0) yield return ("iterations", $"must be ≥ 0, got {Iterations}");
        if (Candidates < 2) yield return ("candidates", $"must be at least 2 (two answers form a pair), got {Candidates}");
        if (JudgeSamples < 1) yield return ("judge_samples", $"must be at least 1, got {JudgeSamples}");
        if (GenerationRows < Math.Max(Candidates, JudgeSamples))
            yield return ("generation_rows", $"must hold every candidate and every judge sample of one prompt ({Math.Max(Candidates, JudgeSamples)}), got {GenerationRows}");
        if (GenerationBatch < 1) yield return ("generation_batch", $"must be at least 1, got {GenerationBatch}");
        var parts = new List<(string Section, IEnumerable<(string Field, string Message)>? Problems)>
        {
            ("sft", Sft?.Problems()), ("dpo", Dpo?.Problems()), ("prompts", Prompts?.Problems()),
            ("candidate_sampling", CandidateSampling?.Problems()), ("judge_sampling", JudgeSampling?.Problems()),
            ("checkpoint_selection", CheckpointSelection?.Problems()),
        };
        foreach (var (section, problems) in parts)
            foreach (var (field, message) in problems ?? [])
                yield return ($"{section}.{field}", message);
        if (CheckpointSelection is { Prompts: null } selection)
        {
            // Selection on held-out prompts needs a held-out share to draw them from.
            if (selection.SftEvery > 0 && Sft is { EvalFraction: 0 })
                yield return ("checkpoint_selection.sft_every", "needs held-out prompts: set sft.eval_fraction above 0 or checkpoint_selection.prompts");
            if (selection.DpoEvery > 0 && Dpo is { HeldOutFraction: 0 })
                yield return ("checkpoint_selection.dpo_every", "needs held-out prompts: set dpo.held_out_fraction above 0 or checkpoint_selection.prompts");
        }
        if (!checkFiles) yield break;
        if (BaseModel is { Length: > 0 } && !File.Exists(Path.Combine(BaseModel, "config.json")))
            yield return ("base_model", Directory.Exists(BaseModel) ? $"names {BaseModel}, which has no config.json" : $"names {BaseModel}, which does not exist");
        foreach (var (file, field) in new[] { (Ift, "ift"), (Eft, "eft"), (ExcludePrompts, "exclude_prompts"), (JudgeTemplate, "judge_template") })
            if (file is { Length: > 0 } && !File.Exists(file)) yield return (field, $"names {file}, which does not exist");
        if (CheckpointSelection?.Prompts is { Length: > 0 } selectionPrompts && !File.Exists(selectionPrompts))
            yield return ("checkpoint_selection.prompts", $"names {selectionPrompts}, which does not exist");
        if (CheckpointSelection?.Judge is { Length: > 0 } judge && !File.Exists(Path.Combine(judge, "config.json")))
            yield return ("checkpoint_selection.judge", $"names {judge}, which is not a checkpoint folder (no config.json)");
        if (Prompts?.PromptModel is { Length: > 0 } writer && !File.Exists(Path.Combine(writer, "config.json")))
            yield return ("prompts.prompt_model", $"names {writer}, which is not a checkpoint folder (no config.json)");
    }

    /// <summary>Throws naming every field whose value is missing or out of range (files are not looked at).</summary>
    /// <exception cref="InvalidDataException">The message lists each mistake as <c>SOURCE: field what</c>.</exception>
    public RunConfig Validate(string source = "run config")
    {
        var problems = Problems().Select(p => new FieldProblem(p.Field, 0, p.Message)).ToList();
        return problems.Count == 0 ? this : throw Invalid(source, problems);
    }
}
