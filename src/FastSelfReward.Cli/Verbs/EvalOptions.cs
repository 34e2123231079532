using System.Globalization;
using System.Text.Json;
using CommandLine;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;
using FastSelfReward.Generation;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Cli;

[Verb("eval", HelpText = "Evaluate: `eval head-to-head` (A against B on the same prompts, judged in both orders: win/tie/loss); `eval reward-model` (a model's judgments against human ranks on held-out EFT data).")]
public sealed class EvalOptions : CommonOptions
{
    [Value(0, MetaName = "mode", Required = true, HelpText = "head-to-head or reward-model.")]
    public string Mode { get; set; } = "";

    [Option("model-a", HelpText = "head-to-head: model A's checkpoint folder.")]
    public string? ModelA { get; set; }

    [Option("model-b", HelpText = "head-to-head: model B's checkpoint folder.")]
    public string? ModelB { get; set; }

    [Option("judge", HelpText = "head-to-head: the judging model's checkpoint folder.")]
    public string? Judge { get; set; }

    [Option("prompts", HelpText = "head-to-head: the prompts, {\"prompt\"} JSONL or one per line.")]
    public string? Prompts { get; set; }

    [Option("max-tokens", Default = 256, HelpText = "head-to-head: most new tokens per answer.")]
    public int MaxTokens { get; set; }

    [Option("temperature", Default = 0.0, HelpText = "head-to-head: the answers' sampling temperature; 0 is greedy.")]
    public double Temperature { get; set; }

    [Option("model", HelpText = "reward-model: the checkpoint folder that judges.")]
    public string? Model { get; set; }

    [Option("eft", HelpText = "reward-model: held-out ranked EFT data, {prompt, responses: [{text, rank}]} JSONL.")]
    public string? Eft { get; set; }

    [Option("samples", Default = 3, HelpText = "reward-model: judgments per response, averaged.")]
    public int Samples { get; set; }

    [Option("judge-template", HelpText = "reward-model: a judge template file with {prompt} and {response}; default: the built-in one.")]
    public string? JudgeTemplateFile { get; set; }

    [Option("judge-max-tokens", Default = 256, HelpText = "Most new tokens per judgment (the reasoning and the verdict or score line).")]
    public int JudgeMaxTokens { get; set; }

    [Option("judge-temperature", HelpText = "The judge's temperature (default: 0 for head-to-head, 0.7 with top-p 0.9 for reward-model).")]
    public double? JudgeTemperature { get; set; }

    [Option("template", HelpText = "Chat template of every model (llama2, llama3, chatml, plain); default: detected from each tokenizer.")]
    public string? Template { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds any sampling.")]
    public ulong Seed { get; set; }

    [Option("out", HelpText = "head-to-head: per-prompt records (JSONL); reward-model: each set's ranks and scores (JSONL).")]
    public string? Out { get; set; }

    public override int Run(VerbContext context)
    {
        if (MaxTokens <= 0 || JudgeMaxTokens <= 0) throw new UsageException("--max-tokens and --judge-max-tokens must be positive");
        if (!(Temperature >= 0) || JudgeTemperature < 0) throw new UsageException("temperatures must be ≥ 0");
        return Mode switch
        {
            "head-to-head" => HeadToHeadMode(context),
            "reward-model" => RewardModelMode(context),
            _ => throw new UsageException($"unknown mode '{Mode}' (modes: head-to-head, reward-model)"),
        };
    }

    private int HeadToHeadMode(VerbContext context)
    {
        string a = ModelA ?? throw new UsageException("head-to-head needs --model-a DIR");
        string b = ModelB ?? throw new UsageException("head-to-head needs --model-b DIR");
        string judgeFolder = Judge ?? throw new UsageException("head-to-head needs --judge DIR");
        var prompts = PromptFile.Read(Prompts ?? throw new UsageException("head-to-head needs --prompts FILE"));
        using var kernels = OpenBackend();
        var answerSampling = new SamplingOptions { Temperature = Temperature, MaxNewTokens = MaxTokens, Seed = Seed };
        // One model in memory at a time: A answers, then B, then the judge compares.
        List<string> AnswersOf(string folder)
        {
            context.Error.WriteLine($"eval: {folder} answers {prompts.Count} prompts");
            using var model = ChatModel.Load(kernels, folder, Template);
            return [.. model.Answer(prompts, answerSampling).Select(x => x.Count > 0 ? x[0].Text : "")];
        }
        var answersA = AnswersOf(a);
        var answersB = AnswersOf(b);
        context.Error.WriteLine($"eval: {judgeFolder} judges {prompts.Count} pairs in both orders");
        using var judge = ChatModel.Load(kernels, judgeFolder, Template);
        var (result, items) = HeadToHeadEvaluation.Judge(judge, prompts, answersA, answersB,
            new SamplingOptions { Temperature = JudgeTemperature ?? 0, TopP = 0.9, MaxNewTokens = JudgeMaxTokens, Seed = Seed });
        if (Out is not null) Jsonl.WriteAll(Out, items);

        context.Out.WriteLine($"A = {a}\nB = {b}\njudge = {judgeFolder}");
        context.Out.WriteLine($"A wins {result.Wins} ({Percent(result.WinRate)}), ties {result.Ties} ({Percent(result.TieRate)}), " +
                              $"loses {result.Losses} ({Percent(result.LossRate)}) of {result.Valid} valid prompts; {result.Invalid} invalid");
        context.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["wins"] = result.Wins, ["ties"] = result.Ties, ["losses"] = result.Losses, ["invalid"] = result.Invalid,
            ["win_rate"] = Finite(result.WinRate), ["tie_rate"] = Finite(result.TieRate), ["loss_rate"] = Finite(result.LossRate),
        }));
        return 0;
    }

    private int RewardModelMode(VerbContext context)
    {
        string folder = Model ?? throw new UsageException("reward-model needs --model DIR");
        string eft = Eft ?? throw new UsageException("reward-model needs --eft FILE");
        if (Samples < 1) throw new UsageException($"--samples must be ≥ 1, got {Samples}");
        if (!File.Exists(eft)) throw new FileNotFoundException($"{eft}: no such file");
        var sets = Jsonl.ReadAll<EftRecord>(eft).Records;
        var template = JudgeTemplateFile is null ? JudgeTemplate.Default : JudgeTemplate.Load(JudgeTemplateFile);
        using var kernels = OpenBackend();
        using var model = ChatModel.Load(kernels, folder, Template);
        context.Error.WriteLine($"eval: {folder} judges {sets.Sum(s => s.Responses.Count)} responses of {sets.Count} sets {Samples}×");
        var (report, scored, failures) = RewardModelEvaluation.Run(model, template, sets,
            new SamplingOptions { Temperature = JudgeTemperature ?? 0.7, TopP = 0.9, MaxNewTokens = JudgeMaxTokens, Seed = Seed }, Samples);
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

    private static string Percent(double value) => double.IsNaN(value) ? "n/a" : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static string Number(double value) => double.IsNaN(value) ? "n/a" : value.ToString("F3", CultureInfo.InvariantCulture);

    // JSON has no NaN: a measure with nothing to measure is null.
    private static double? Finite(double value) => double.IsNaN(value) ? null : value;
}
