using CommandLine;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;
using FastSelfReward.Generation;

namespace FastSelfReward.Cli;

[Verb("data", HelpText = "Data files: `data oasst` converts Open Assistant trees to IFT and ranked EFT sets split by tree; `data alpacaeval` exports a model's answers as AlpacaEval JSON.")]
public sealed class DataVerb : ModedVerb
{
    public override Type[] Modes => [typeof(DataOasstOptions), typeof(DataAlpacaEvalOptions)];
}

[Verb("data:oasst", Hidden = true, HelpText = "Open Assistant trees to IFT and ranked EFT sets, split by tree into train and eval.")]
public sealed class DataOasstOptions : CommonOptions
{
    [Option("trees", HelpText = "An Open Assistant *.trees.jsonl export.")]
    public string? Trees { get; set; }

    [Option("lang", Default = "en", HelpText = "The language of the prompts and answers kept.")]
    public string Lang { get; set; } = "en";

    [Option("eval-fraction", Default = 0.1, HelpText = "The share of trees that go to the eval split.")]
    public double EvalFraction { get; set; }

    [Option("skip-bad", HelpText = "Skip and count malformed tree lines instead of stopping at the first.")]
    public bool SkipBad { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds the split.")]
    public ulong Seed { get; set; }

    [Option("out", HelpText = "The output folder.")]
    public string? Out { get; set; }

    public override int Run(VerbContext context)
    {
        string trees = Trees ?? throw new UsageException("needs --trees FILE");
        string output = Out ?? throw new UsageException("needs --out DIR");
        if (!(EvalFraction >= 0 && EvalFraction <= 1)) throw new UsageException($"--eval-fraction must lie in [0, 1], got {EvalFraction}");
        if (!File.Exists(trees)) throw new FileNotFoundException($"{trees}: no such file");
        var conversion = OasstConverter.Convert(trees, new OasstOptions
        {
            Lang = Lang, EvalFraction = EvalFraction, Seed = Seed, ErrorMode = SkipBad ? JsonlErrorMode.Skip : JsonlErrorMode.Stop,
        });
        Directory.CreateDirectory(output);
        conversion.WriteTo(output);
        // The eval split's prompts, ready for run.json's exclude_prompts.
        var evalPrompts = conversion.Eval.Ift.Select(r => r.Prompt).Concat(conversion.Eval.Eft.Select(r => r.Prompt)).Distinct()
            .Select(p => new PromptTextRecord(p));
        Jsonl.WriteAll(Path.Combine(output, "eval_prompts.jsonl"), evalPrompts);
        var s = conversion.Stats;
        context.Out.WriteLine($"{trees}: {s.Trees} trees ({s.SkippedLines} malformed lines skipped, {s.OtherLanguage} in another language, " +
                              $"{s.RemovedPrompts} prompts removed, {s.RemovedReplies} replies removed, {s.WithoutBestReply} without a rank-0 answer, " +
                              $"{s.TooFewRanked} with fewer than two ranked answers)");
        context.Out.WriteLine($"train: {conversion.Train.Ift.Count} IFT, {conversion.Train.Eft.Count} EFT sets; " +
                              $"eval: {conversion.Eval.Ift.Count} IFT, {conversion.Eval.Eft.Count} EFT sets; written to {output}");
        return 0;
    }
}

[Verb("data:alpacaeval", Hidden = true, HelpText = "A model's answers to a prompt file as AlpacaEval JSON.")]
public sealed class DataAlpacaEvalOptions : CommonOptions
{
    [Option("model", HelpText = "The checkpoint folder whose answers are exported.")]
    public string? Model { get; set; }

    [Option("prompts", HelpText = "The instructions: AlpacaEval's own JSON array (alpaca_eval.json, {\"instruction\", \"dataset\"}), {\"prompt\"} JSONL, or one per line.")]
    public string? Prompts { get; set; }

    [Option("generator", HelpText = "The generator name written with each answer (default: the model folder's name).")]
    public string? Generator { get; set; }

    [Option("max-tokens", Default = 512, HelpText = "Most new tokens per answer.")]
    public int MaxTokens { get; set; }

    [Option("temperature", Default = 0.0, HelpText = "Sampling temperature; 0 is greedy.")]
    public double Temperature { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds the sampling.")]
    public ulong Seed { get; set; }

    [Option("template", HelpText = "Chat template (llama2, llama3, chatml, plain); default: detected from the tokenizer.")]
    public string? Template { get; set; }

    [Option("out", HelpText = "The output JSON file.")]
    public string? Out { get; set; }

    public override int Run(VerbContext context)
    {
        string modelFolder = Model ?? throw new UsageException("needs --model DIR");
        string promptsFile = Prompts ?? throw new UsageException("needs --prompts FILE");
        string output = Out ?? throw new UsageException("needs --out FILE");
        if (MaxTokens <= 0) throw new UsageException($"--max-tokens must be positive, got {MaxTokens}");
        if (!(Temperature >= 0)) throw new UsageException($"--temperature must be ≥ 0, got {Temperature}");
        var prompts = PromptFile.ReadEntries(promptsFile);
        using var kernels = OpenBackend();
        using var model = ChatModel.Load(kernels, modelFolder, Template);
        var answers = model.Answer([.. prompts.Select(p => p.Prompt)], new SamplingOptions { Temperature = Temperature, MaxTokens = MaxTokens, Seed = Seed });
        string generator = Generator ?? new DirectoryInfo(Path.GetFullPath(modelFolder)).Name;
        AlpacaEvalExport.Write(output, prompts, [.. answers.Select(a => a.Count > 0 ? a[0].Text : "")], generator);
        int unanswered = answers.Count(a => a.Count == 0), truncated = answers.Count(a => a.Count > 0 && a[0].Finish == FinishReason.Length);
        context.Out.WriteLine($"{output}: {prompts.Count} answers of {generator} ({truncated} cut off by --max-tokens" +
                              (unanswered > 0 ? $", {unanswered} prompts too long for the context left empty" : "") + ")");
        return 0;
    }
}
