using System.Diagnostics;
using System.Text.Json;
using CommandLine;
using FastSelfReward.Checkpoints;
using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.Reporting;
using FastSelfReward.Text;

namespace FastSelfReward.Cli;

[Verb("generate", HelpText = "Complete prompts with a checkpoint, all in one batch.")]
public sealed class GenerateOptions : CommonOptions
{
    [Option("model", Required = true, HelpText = "Checkpoint folder (config.json, model.safetensors, tokenizer files).")]
    public string Model { get; set; } = "";

    [Option("prompt", HelpText = "The prompt to complete.")]
    public string? Prompt { get; set; }

    [Option("prompts", HelpText = "A file of prompts: {\"prompt\"} JSONL, AlpacaEval's JSON array of {\"instruction\"}, or one prompt per line.")]
    public string? PromptsFile { get; set; }

    [Option("max-tokens", Default = 256, HelpText = "Most new tokens per completion.")]
    public int MaxTokens { get; set; }

    [Option("temperature", Default = 0.7, HelpText = "Sampling temperature; 0 is greedy (deterministic).")]
    public double Temperature { get; set; }

    [Option("top-p", Default = 0.9, HelpText = "Nucleus sampling: keep the most likely tokens up to this probability mass.")]
    public double TopP { get; set; }

    [Option("seed", Default = 0UL, HelpText = "Seeds sampling; a prompt's completion depends only on the seed and its position in the list.")]
    public ulong Seed { get; set; }

    [Option("chat", HelpText = "Wrap each prompt in the chat template as a user turn.")]
    public bool Chat { get; set; }

    [Option("template", HelpText = "Chat template: llama2, llama3, chatml, plain or auto (detected from the tokenizer); implies --chat.")]
    public string? Template { get; set; }

    [Option("system", HelpText = "System message for --chat.")]
    public string? System { get; set; }

    [Option("json", HelpText = "Print one JSON object per prompt: {\"prompt\", \"completion\", \"finish_reason\"}.")]
    public bool Json { get; set; }

    [Option("batch", Default = 64, HelpText = "Most sequences decoded at once.")]
    public int Batch { get; set; }

    public override int Run(VerbContext context)
    {
        SamplingOptions sampling = Sampling();
        if (Batch <= 0) throw new UsageException($"--batch must be positive, got {Batch}");
        if ((Prompt is null) == (PromptsFile is null)) throw new UsageException("give either --prompt or --prompts");
        if (System is not null && !Chat && Template is null) throw new UsageException("--system needs --chat");
        List<string> prompts = Prompt is not null ? [Prompt] : PromptFile.Read(PromptsFile!);

        if (!Directory.Exists(Model)) throw new DirectoryNotFoundException($"{Model}: no such checkpoint folder");
        TextTokenizer tokenizer = TextTokenizer.Load(Model);
        ChatTemplate? template = Chat || Template is not null ? ChatTemplate.Create(tokenizer, Template) : null;
        using var kernels = OpenBackend();
        using var model = ModelCheckpoint.Load(kernels, Model);

        var requests = prompts.Select((text, i) => new GenerationRequest(i, Encode(text, tokenizer, template))).ToList();
        var stopIds = Completions.StopIds(model.Config, tokenizer, template);

        IReadOnlyList<GeneratedSequence> outputs;
        using (var generator = new Generator(model, stopIds, maxRows: Batch))
        using (var progress = context.CreateProgress())
        {
            var clock = Stopwatch.StartNew();
            long done = 0;
            progress.Start(requests.Count, "generate");
            // The last group is reported below, with the throughput of the whole run.
            outputs = generator.Generate(requests, sampling, finished =>
            {
                if ((done += finished) < requests.Count) progress.Report(new ProgressUpdate(done));
            });
            long generated = outputs.Sum(o => (long)o.Tokens.Length);
            progress.Report(new ProgressUpdate(requests.Count) { TokensPerSecond = generated / Math.Max(clock.Elapsed.TotalSeconds, 1e-9) });
            progress.Finish();
        }

        for (int i = 0; i < outputs.Count; i++)
        {
            GeneratedSequence output = outputs[i];
            string completion = Completions.Text(output, tokenizer);
            if (Json)
            {
                context.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["prompt"] = prompts[(int)output.RecordId],
                    ["completion"] = completion,
                    ["finish_reason"] = output.FinishReason == FinishReason.Stop ? "stop" : "length",
                }));
            }
            else
            {
                if (i > 0) context.Out.WriteLine();
                context.Out.WriteLine(completion);
            }
        }
        return 0;
    }

    private SamplingOptions Sampling()
    {
        try
        {
            return new SamplingOptions { Temperature = Temperature, TopP = TopP, MaxTokens = MaxTokens, Seed = Seed }.Validate();
        }
        catch (ArgumentException e)
        {
            throw UsageException.ForField(e);
        }
    }

    /// <summary>The prompt's ids: the chat template's rendering, or BOS (when the tokenizer has one) and the text.</summary>
    private IReadOnlyList<int> Encode(string prompt, ITextTokenizer tokenizer, ChatTemplate? template)
    {
        if (template is not null) return template.Render(prompt, system: System).PromptIds;
        var ids = new List<int>();
        if (tokenizer.BosId is int bos) ids.Add(bos);
        ids.AddRange(tokenizer.Encode(prompt));
        return ids;
    }
}
