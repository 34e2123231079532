using System.Globalization;
using System.Text.Json;
using CommandLine;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;
using FastSelfReward.Generation;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Cli;

[Verb("eval", HelpText = "Evaluate: `eval head-to-head` (A against B on the same prompts, judged in both orders: win/tie/loss); `eval reward-model` (a model's judgments against human ranks on held-out EFT data).")]
public sealed class EvalVerb : ModedVerb
{
    public override Type[] Modes => [typeof(EvalHeadToHeadOptions), typeof(EvalRewardModelOptions)];
}

/// <summary>What both eval modes share: a judge's sampling, the chat template, the seed, and how results print.</summary>
public abstract class EvalModeOptions : CommonOptions
{
    [Option("judge-max-tokens", Default = 512, HelpText = "Most new tokens per judgment (the reasoning and the verdict or score line); a judgment cut before its verdict counts as invalid.")]
    public int JudgeMaxTokens { get; set; }

    [Option("template", HelpText = "Chat template of every model (llama2, llama3, chatml, plain); default: detected from each tokenizer.")]
    public string? Template { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds any sampling.")]
    public ulong Seed { get; set; }

    /// <summary>The judge's temperature; each mode declares the option with its own default.</summary>
    public abstract double? JudgeTemperature { get; set; }

    protected void CheckJudgeSampling()
    {
        if (JudgeMaxTokens <= 0) throw new UsageException($"--judge-max-tokens must be positive, got {JudgeMaxTokens}");
        if (JudgeTemperature < 0) throw new UsageException($"--judge-temperature must be ≥ 0, got {JudgeTemperature}");
    }

    protected static string Percent(double value) => double.IsNaN(value) ? "n/a" : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + "%";

    protected static string Number(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F3", CultureInfo.InvariantCulture);

    // JSON has no NaN: a measure with nothing to measure is null.
    protected static double? Finite(double value) => double.IsNaN(value) ? null : value;
}

[Verb("eval:head-to-head", Hidden = true, HelpText = "Model A against model B on the same prompts, judged in both orders by a third model: win/tie/loss.")]
public sealed class EvalHeadToHeadOptions : EvalModeOptions
{
    [Option("model-a", HelpText = "Model A's checkpoint folder.")]
    public string? ModelA { get; set; }

    [Option("model-b", HelpText = "Model B's checkpoint folder.")]
    public string? ModelB { get; set; }

    [Option("judge", HelpText = "The judging model's checkpoint folder.")]
    public string? Judge { get; set; }

    [Option("prompts", HelpText = "The prompts: {\"prompt\"} JSONL, AlpacaEval's JSON array of {\"instruction\"}, or one per line.")]
    public string? Prompts { get; set; }

    [Option("max-tokens", Default = 1024, HelpText = "Most new tokens per answer (the paper's answers run to some 600 Llama tokens); the answers that hit it are counted.")]
    public int MaxTokens { get; set; }

    [Option("temperature", Default = 0.0, HelpText = "The answers' sampling temperature; 0 is greedy.")]
    public double Temperature { get; set; }

    [Option("judge-temperature", HelpText = "The judge's temperature (default: 0).")]
    public override double? JudgeTemperature { get; set; }

    [Option("out", HelpText = "Per-prompt records (JSONL).")]
    public string? Out { get; set; }

    public override int Run(VerbContext context)
    {
        if (MaxTokens <= 0) throw new UsageException($"--max-tokens must be positive, got {MaxTokens}");
        if (!(Temperature >= 0)) throw new UsageException($"--temperature must be ≥ 0, got {Temperature}");
        CheckJudgeSampling();
        string a = ModelA ?? throw new UsageException("needs --model-a DIR");
        string b = ModelB ?? throw new UsageException("needs --model-b DIR");
        string judgeFolder = Judge ?? throw new UsageException("needs --judge DIR");
        var prompts = PromptFile.Read(Prompts ?? throw new UsageException("needs --prompts FILE"));
        using var kernels = OpenBackend();
        var answerSampling = new SamplingOptions { Temperature = Temperature, MaxTokens = MaxTokens, Seed = Seed };
        // One model in memory at a time: A answers, then B, then the judge compares.
        List<string> AnswersOf(string folder, out int truncated)
        {
            context.Error.WriteLine($"eval: {folder} answers {prompts.Count} prompts");
            using var model = ChatModel.Load(kernels, folder, Template);
            var answers = model.Answer(prompts, answerSampling);
            truncated = answers.Count(x => x.Count > 0 && x[0].Finish == FinishReason.Length);
            return [.. answers.Select(x => x.Count > 0 ? x[0].Text : "")];
        }
        var answersA = AnswersOf(a, out int truncatedA);
        var answersB = AnswersOf(b, out int truncatedB);
        context.Error.WriteLine($"eval: {judgeFolder} judges {prompts.Count} pairs in both orders");
        using var judge = ChatModel.Load(kernels, judgeFolder, Template);
        var (result, items) = HeadToHeadEvaluation.Judge(judge, prompts, answersA, answersB,
            new SamplingOptions { Temperature = JudgeTemperature ?? 0, TopP = 0.9, MaxTokens = JudgeMaxTokens, Seed = Seed });
        if (Out is not null) Jsonl.WriteAll(Out, items);

        context.Out.WriteLine($"A = {a}\nB = {b}\njudge = {judgeFolder}");
        context.Out.WriteLine($"A wins {result.Wins} ({Percent(result.WinRate)}), ties {result.Ties} ({Percent(result.TieRate)}), " +
                              $"loses {result.Losses} ({Percent(result.LossRate)}) of {result.Valid} valid prompts; {result.Invalid} invalid");
        context.Out.WriteLine($"answers cut at --max-tokens {MaxTokens}: A {truncatedA}, B {truncatedB} of {prompts.Count}");
        context.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["wins"] = result.Wins, ["ties"] = result.Ties, ["losses"] = result.Losses, ["invalid"] = result.Invalid,
            ["win_rate"] = Finite(result.WinRate), ["tie_rate"] = Finite(result.TieRate), ["loss_rate"] = Finite(result.LossRate),
            ["truncated_a"] = truncatedA, ["truncated_b"] = truncatedB,
        }));
        return 0;
    }
}

[Verb("eval:reward-model", Hidden = true, HelpText = "A model's judgments against human ranks on held-out EFT data: the paper's reward-modelling table.")]
public sealed class EvalRewardModelOptions : EvalModeOptions
{
    [Option("model", HelpText = "The checkpoint folder that judges.")]
    public string? Model { get; set; }

    [Option("eft", HelpText = "Held-out ranked EFT data, {prompt, responses: [{text, rank}]} JSONL.")]
    public string? Eft { get; set; }

    [Option("samples", Default = 3, HelpText = "Judgments per response, averaged.")]
    public int Samples { get; set; }

    [Option("judge-template", HelpText = "A judge template file with {prompt} and {response}; default: the built-in one.")]
    public string? JudgeTemplateFile { get; set; }

    [Option("judge-temperature", HelpText = "The judge's temperature (default: 0.7, with top-p 0.9).")]
    public override double? JudgeTemperature { get; set; }

    [Option("out", HelpText = "Each set's ranks and scores (JSONL).")]
    public string? Out { get; set; }

    public override int Run(VerbContext context)
    {
        CheckJudgeSampling();
        string folder = Model ?? throw new UsageException("needs --model DIR");
        string eft = Eft ?? throw new UsageException("needs --eft FILE");
        if (Samples < 1) throw new UsageException($"--samples must be ≥ 1, got {Samples}");
        if (!File.Exists(eft)) throw new FileNotFoundException($"{eft}: no such file");
        var sets = Jsonl.ReadAll<EftRecord>(eft).Records;
        var template = JudgeTemplateFile is null ? JudgeTemplate.Default : JudgeTemplate.Load(JudgeTemplateFile);
        using var kernels = OpenBackend();
        using var model = ChatModel.Load(kernels, folder, Template);
        context.Error.WriteLine($"eval: {folder} judges {sets.Sum(s => s.Responses.Count)} responses of {sets.Count} sets {Samples}×");
        var (report, scored, failures) = RewardModelEvaluation.Run(model, template, sets,
            new SamplingOptions { Temperature = JudgeTemperature ?? 0.7, TopP = 0.9, MaxTokens = JudgeMaxTokens, Seed = Seed }, Samples);
        if (Out is not null)
            Jsonl.WriteAll(Out, scored.Select((s, i) => new { Prompt = sets[i].Prompt, Ranks = s.HumanRanks, Scores = s.Scores }));

        context.Out.WriteLine($"{folder} on {eft}: {report.Sets} sets measured, {report.SkippedSets} with fewer than two scored responses skipped, " +
                              $"{report.UnscoredResponses} responses unscored, {failures} judgments unparsed");
        context.Out.WriteLine($"{"Pairwise acc. (↑)",-20}{Percent(report.PairwiseAccuracy),8}");
        context.Out.WriteLine($"{"5-best % (↑)",-20}{Percent(report.FiveBest),8}");
        context.Out.WriteLine($"{"Exact Match % (↑)",-20}{Percent(report.ExactMatch),8}");
        context.Out.WriteLine($"{"Spearman corr. (↑)",-20}{Number(report.Spearman),8}");
        context.Out.WriteLine($"{"Kendall τ corr. (↑)",-20}{Number(report.KendallTau),8}");
        context.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["sets"] = report.Sets, ["skipped_sets"] = report.SkippedSets, ["unscored_responses"] = report.UnscoredResponses,
            ["parse_failures"] = failures, ["pairs"] = report.Pairs, ["pairwise_accuracy"] = Finite(report.PairwiseAccuracy),
            ["top_scored"] = report.TopScored, ["five_best"] = Finite(report.FiveBest), ["exact_match"] = Finite(report.ExactMatch),
            ["spearman"] = Finite(report.Spearman), ["kendall_tau"] = Finite(report.KendallTau),
        }));
        return 0;
    }
}
