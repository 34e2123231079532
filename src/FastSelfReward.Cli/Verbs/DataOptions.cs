using CommandLine;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;
using FastSelfReward.Generation;

namespace FastSelfReward.Cli;

[Verb("data", HelpText = "Data files: `data oasst` converts Open Assistant trees to IFT and ranked EFT sets split by tree; `data alpacaeval` exports a model's answers as AlpacaEval JSON.")]
public sealed class DataOptions : CommonOptions
{
    [Value(0, MetaName = "mode", Required = true, HelpText = "oasst or alpacaeval.")]
    public string Mode { get; set; } = "";

    [Option("trees", HelpText = "oasst: an Open Assistant *.trees.jsonl export.")]
    public string? Trees { get; set; }

    [Option("lang", Default = "en", HelpText = "oasst: the language of the prompts and answers kept.")]
    public string Lang { get; set; } = "en";

    [Option("eval-fraction", Default = 0.1, HelpText = "oasst: the share of trees that go to the eval split.")]
    public double EvalFraction { get; set; }

    [Option("skip-bad", HelpText = "oasst: skip and count malformed tree lines instead of stopping at the first.")]
    public bool SkipBad { get; set; }

    [Option("model", HelpText = "alpacaeval: the checkpoint folder whose answers are exported.")]
    public string? Model { get; set; }

    [Option("prompts", HelpText = "alpacaeval: the instructions, {\"prompt\"} JSONL or one per line.")]
    public string? Prompts { get; set; }

    [Option("generator", HelpText = "alpacaeval: the generator name written with each answer (default: the model folder's name).")]
    public string? Generator { get; set; }

    [Option("max-tokens", Default = 512, HelpText = "alpacaeval: most new tokens per answer.")]
    public int MaxTokens { get; set; }

    [Option("temperature", Default = 0.0, HelpText = "alpacaeval: sampling temperature; 0 is greedy.")]
    public double Temperature { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds the oasst split, or alpacaeval sampling.")]
    public ulong Seed { get; set; }

    [Option("template", HelpText = "alpacaeval: chat template (llama2, llama3, chatml, plain); default: detected from the tokenizer.")]
    public string? Template { get; set; }

    [Option("out", HelpText = "oasst: the output folder; alpacaeval: the output JSON file.")]
    public string? Out { get; set; }

    public override int Run(VerbContext context) => Mode switch
    {
        "oasst" => Oasst(context),
        "alpacaeval" => AlpacaEval(context),
        _ => throw new UsageException($"unknown mode '{Mode}' (modes: oasst, alpacaeval)"),
    };

    private int Oasst(VerbContext context)
    {
        string trees = Trees ?? throw new UsageException("oasst needs --trees FILE");
        string output = Out ?? throw new UsageException("oasst needs --out DIR");
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

    private int AlpacaEval(VerbContext context)
    {
        string modelFolder = Model ?? throw new UsageException("alpacaeval needs --model DIR");
        string promptsFile = Prompts ?? throw new UsageException("alpacaeval needs --prompts FILE");
        string output = Out ?? throw new UsageException("alpacaeval needs --out FILE");
        if (MaxTokens <= 0) throw new UsageException($"--max-tokens must be positive, got {MaxTokens}");
        if (!(Temperature >= 0)) throw new UsageException($"--temperature must be ≥ 0, got {Temperature}");
        var prompts = PromptFile.Read(promptsFile);
        using var kernels = OpenBackend();
        using var model = ChatModel.Load(kernels, modelFolder, Template);
        var answers = model.Answer(prompts, new SamplingOptions { Temperature = Temperature, MaxNewTokens = MaxTokens, Seed = Seed });
        string generator = Generator ?? new DirectoryInfo(Path.GetFullPath(modelFolder)).Name;
        AlpacaEvalExport.Write(output, prompts, [.. answers.Select(a => a.Count > 0 ? a[0].Text : "")], generator);
        int unanswered = answers.Count(a => a.Count == 0), truncated = answers.Count(a => a.Count > 0 && a[0].Finish == FinishReason.Length);
        context.Out.WriteLine($"{output}: {prompts.Count} answers of {generator} ({truncated} cut off by --max-tokens" +
                              (unanswered > 0 ? $", {unanswered} prompts too long for the context left empty" : "") + ")");
        return 0;
    }
}
