using CommandLine;
using FastSelfReward.Checkpoints;
using FastSelfReward.Data;
using FastSelfReward.Model;
using FastSelfReward.Reporting;
using FastSelfReward.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Cli;

[Verb("train-lm", HelpText = "Train a Llama-family model from scratch on a text or JSONL file and save it as a Hugging Face checkpoint folder.")]
public sealed class TrainLmOptions : CommonOptions
{
    [Option("data", Required = true, HelpText = "Training text: a .jsonl file of {\"text\": ...} records, or plain text.")]
    public string Data { get; set; } = "";

    [Option("tokenizer", Required = true, HelpText = "Folder with the tokenizer files (tokenizer.model, tokenizer.json, *.tiktoken or vocab.json + merges.txt); the vocabulary size comes from it.")]
    public string Tokenizer { get; set; } = "";

    [Option("out", Required = true, HelpText = "Checkpoint folder to write (config.json, model.safetensors, tokenizer files, metrics.jsonl).")]
    public string Out { get; set; } = "";

    [Option("config", HelpText = "A Hugging Face config.json giving the architecture, instead of the size options.")]
    public string? Config { get; set; }

    [Option("layers", HelpText = "Transformer blocks. (Default: 4)")]
    public int? Layers { get; set; }

    [Option("dim", HelpText = "Hidden size. (Default: 256)")]
    public int? Dim { get; set; }

    [Option("heads", HelpText = "Attention heads. (Default: 4)")]
    public int? Heads { get; set; }

    [Option("kv-heads", HelpText = "Key/value heads for grouped-query attention. (Default: --heads)")]
    public int? KvHeads { get; set; }

    [Option("ffn", HelpText = "SwiGLU hidden size. (Default: 8/3 of --dim, rounded up to a multiple of 32)")]
    public int? Ffn { get; set; }

    [Option("tie-embeddings", HelpText = "Share the embedding matrix with the output layer.")]
    public bool TieEmbeddings { get; set; }

    [Option("context", HelpText = "Context length: longest training example and max_position_embeddings. (Default: 256, or the config's max_position_embeddings)")]
    public int? Context { get; set; }

    [Option("split", Default = "paragraphs", HelpText = "How plain text becomes examples: 'paragraphs' (documents separated by blank lines) or 'windows' (one stream cut into --context windows).")]
    public string Split { get; set; } = "paragraphs";

    [Option("steps", HelpText = "Optimizer steps (cycling over the data); excludes --epochs.")]
    public int? Steps { get; set; }

    [Option("epochs", HelpText = "Passes over the data. (Default: 1)")]
    public int? Epochs { get; set; }

    [Option("lr", Default = PretrainOptions.DefaultLearningRate, HelpText = "Peak learning rate (linear warmup, then cosine decay to --min-lr).")]
    public double LearningRate { get; set; }

    [Option("min-lr", HelpText = "Final learning rate. (Default: --lr / 10)")]
    public double? MinLearningRate { get; set; }

    [Option("warmup", HelpText = "Warmup steps. (Default: a tenth of the run, at most 100)")]
    public int? Warmup { get; set; }

    [Option("weight-decay", Default = PretrainOptions.DefaultWeightDecay, HelpText = "AdamW weight decay (matrices only).")]
    public double WeightDecay { get; set; }

    [Option("batch-tokens", Default = PretrainOptions.DefaultBatchTokens, HelpText = "Tokens per optimizer step.")]
    public int BatchTokens { get; set; }

    [Option("micro-batch-tokens", HelpText = "Tokens per forward/backward pass; smaller saves memory, the gradient is the same. (Default: --batch-tokens)")]
    public int? MicroBatchTokens { get; set; }

    [Option("overwrite", HelpText = "Replace a model --out holds that another run (or another tool) made; without it such a folder is refused.")]
    public bool Overwrite { get; set; }

    [Option("seed", Default = 1, HelpText = "Seeds the initial weights and the data order.")]
    public int Seed { get; set; }

    [Option("log-every", Default = 10, HelpText = "Steps between metrics records and plain progress lines.")]
    public int LogEvery { get; set; }

    [Option("checkpoint-every", Default = 100, HelpText = "Steps between saves of the training state (weights, AdamW moments, data position) to --out; rerunning the same command after a kill resumes from the last one. 0: only after the last step.")]
    public int CheckpointEvery { get; set; }

    [Option("replicate-optimizer", HelpText = "Under mpirun, keep the whole optimizer state on every rank (plain data parallel) instead of each rank its 1/N range of the AdamW moments (ZeRO-1, the default); the weights are the same, bit for bit.")]
    public bool ReplicateOptimizer { get; set; }

    public override bool RunsOnRanks => true;

    public override int Run(VerbContext context)
    {
        // Data-parallel under mpirun: every rank trains its share of each step; rank 0 reports and writes.
        var world = context.World;
        var output = world.IsRoot ? context.Out : TextWriter.Null;
        PretrainOptions options = Options();
        DocumentSplit split = Split switch
        {
            "paragraphs" => DocumentSplit.BlankLines,
            "windows" => DocumentSplit.Windows,
            _ => throw new UsageException($"--split must be 'paragraphs' or 'windows', got '{Split}'"),
        };
        ValidateSizeOptions();
        if (!File.Exists(Data)) throw new FileNotFoundException($"{Data}: no such training file");

        if (!Directory.Exists(Tokenizer)) throw new DirectoryNotFoundException($"{Tokenizer}: no such tokenizer folder");
        TextTokenizer tokenizer = TextTokenizer.Load(Tokenizer);
        LlamaConfig config = Architecture(tokenizer);
        List<LmExample> examples = TextCorpus.Tokenize(TextCorpus.ReadDocuments(Data, split), tokenizer, config.MaxPositionEmbeddings);
        if (examples.Count == 0) throw new InvalidDataException($"{Data}: no example of two or more tokens to train on");

        using var kernels = OpenBackend();
        using var model = new LlamaModel(kernels, config);
        model.InitializeRandom(Seed);
        output.WriteLine($"train-lm: {config.ParameterCount:N0} parameters ({config.NumHiddenLayers} layers, dim {config.HiddenSize}, "
            + $"{config.NumAttentionHeads}/{config.KvHeads} heads, ffn {config.IntermediateSize}, vocab {config.VocabSize}, context {config.MaxPositionEmbeddings}); "
            + $"{examples.Count:N0} examples, {examples.Sum(e => (long)e.Tokens.Length):N0} tokens"
            + (world.Size > 1 ? $"; {world.Size} ranks, data-parallel" : ""));

        if (File.Exists(Path.Combine(Out, Pretraining.StateFileName))) output.WriteLine($"train-lm: resuming from {Path.Combine(Out, Pretraining.StateFileName)}");
        TrainingSummary<LmMetrics>? result;
        try
        {
            using var progress = context.CreateProgress(LogEvery);
            result = Pretraining.Run(model, examples, options, Seed, Out, Tokenizer, progress, context.Interrupt, Overwrite, world, !ReplicateOptimizer);
        }
        catch (ModelFolderTakenException e)
        {
            throw new UsageException($"--out: {e.Message}: pass --overwrite to replace it, or choose another folder");
        }
        if (result is null)
        {
            output.WriteLine($"train-lm: {Out} already holds this run's finished model (same data, architecture and settings); nothing to do");
            return 0;
        }
        string resumed = result.ResumedFrom is long from ? $" (resumed after step {from})" : "";
        double firstLoss = result.First?.Metrics.Loss ?? double.NaN, lastLoss = result.Last?.Metrics.Loss ?? double.NaN;
        output.WriteLine(FormattableString.Invariant(
            $"train-lm: {result.Steps} steps{resumed}, loss {firstLoss:F4} -> {lastLoss:F4}, {result.Tokens / Math.Max(result.Seconds, 1e-9):F0} tok/s; saved {Out}"));
        return 0;
    }

    private PretrainOptions Options()
    {
        if (Steps is not null && Epochs is not null) throw new UsageException("give --steps or --epochs, not both");
        var options = new PretrainOptions
        {
            Steps = Steps,
            Epochs = Epochs ?? 1,
            LearningRate = LearningRate,
            MinLearningRate = MinLearningRate,
            WarmupSteps = Warmup,
            BatchTokens = BatchTokens,
            MicroBatchTokens = MicroBatchTokens,
            LogEvery = LogEvery,
            CheckpointEvery = CheckpointEvery,
            WeightDecay = WeightDecay,
        };
        try
        {
            options.Validate();
            return options;
        }
        catch (ArgumentException e)
        {
            throw UsageException.ForField(e, new Dictionary<string, string>
            {
                ["learning_rate"] = "--lr", ["min_learning_rate"] = "--min-lr", ["warmup_steps"] = "--warmup",
            });
        }
    }

    private void ValidateSizeOptions()
    {
        if (Context is <= 1) throw new UsageException($"--context must be at least 2, got {Context}");
        if (Config is null) return;
        string[] sizeOptions = new (string Name, object? Value)[]
            { ("--layers", Layers), ("--dim", Dim), ("--heads", Heads), ("--kv-heads", KvHeads), ("--ffn", Ffn) }
            .Where(f => f.Value is not null).Select(f => f.Name).ToArray();
        if (sizeOptions.Length > 0) throw new UsageException($"--config cannot be combined with {string.Join(", ", sizeOptions)}");
    }

    /// <summary>The model's shape: from --config, or from the size options; the vocabulary and special ids from the tokenizer.</summary>
    private LlamaConfig Architecture(TextTokenizer tokenizer)
    {
        if (Config is not null)
            return ModelShape.Adapt(LlamaConfigJson.Read(Config), Config, tokenizer.VocabSize, tokenizer.BosId, tokenizer.EosId, Context, TieEmbeddings);
        var defaults = new ModelShape();
        var shape = new ModelShape
        {
            Layers = Layers ?? defaults.Layers, HiddenSize = Dim ?? defaults.HiddenSize, Heads = Heads ?? defaults.Heads, KvHeads = KvHeads,
            IntermediateSize = Ffn, TieEmbeddings = TieEmbeddings, Context = Context ?? defaults.Context,
        };
        try
        {
            // A model trained from scratch on this tokenizer takes its special ids from it.
            return shape.ToConfig(tokenizer.VocabSize, tokenizer.BosId ?? 0, tokenizer.EosId is int eos ? [eos] : []);
        }
        catch (InvalidDataException e)
        {
            // The size options made this config, so its inconsistencies are usage errors.
            throw new UsageException(e.Message);
        }
    }
}
