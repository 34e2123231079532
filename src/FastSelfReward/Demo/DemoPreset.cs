using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.SelfReward;
using FastSelfReward.Training;
using FastSelfReward.World;

namespace FastSelfReward.Demo;

/// <summary>
/// The sizes and schedules of one demo: the world's data, the tokenizer, M0's architecture and
/// pretraining, and the run configuration of the self-rewarding loop. The paper's learning rates
/// are for a 70B model; a model of a few hundred thousand parameters trained from scratch needs
/// rates a thousand times larger, so every preset sets its own.
/// </summary>
public sealed record DemoPreset
{
    public required string Name { get; init; }
    public required WorldDataOptions World { get; init; }
    public int VocabSize { get; init; } = 512;
    public required LlamaConfig Model { get; init; }
    public int PretrainSteps { get; init; } = 300;
    public int PretrainBatchTokens { get; init; } = 2048;
    public double PretrainLearningRate { get; init; } = 3e-3;
    /// <summary>M0's warm-up, in steps (at most half the run): a 1M-parameter model reaching 3e-3 within 12 steps spikes its gradient norm 66-fold.</summary>
    public int PretrainWarmupSteps { get; init; } = 50;
    /// <summary>
    /// The separate prompt writer: a small model trained once on numbered lists of IFT prompts in the
    /// loop's self-instruction format, and handed to the loop as its prompt model (the paper's were
    /// written by a fixed Llama 2-Chat 70B, not by Mt).
    /// </summary>
    public required LlamaConfig WriterModel { get; init; }
    /// <summary>Lists of IFT prompts the writer is trained on, each of the loop's shot count plus one.</summary>
    public int WriterLists { get; init; } = 6000;
    public int WriterSteps { get; init; } = 400;
    public int WriterBatchTokens { get; init; } = 4096;
    public double WriterLearningRate { get; init; } = 3e-3;
    /// <summary>The loop's configuration; data and model paths are filled in by the pipeline.</summary>
    public required RunConfig Run { get; init; }
    /// <summary>
    /// Runs of the loop, from the same data, M0 and prompt writer, with seeds <c>Run.Seed</c>,
    /// <c>Run.Seed + 1</c>, …; the report pools them, so a result is told from the noise between runs.
    /// </summary>
    public int LoopSeeds { get; init; } = 1;
    /// <summary>Held-out prompts each model answers for the oracle's measurements.</summary>
    public int EvalPrompts { get; init; } = 256;

    /// <summary>The preset of a name: default, quick, or test (the end-to-end test's).</summary>
    public static DemoPreset Named(string name) => name switch
    {
        "default" => Default,
        "quick" => Quick,
        "test" => Test,
        _ => throw new ArgumentException($"unknown demo preset '{name}' (presets: default, quick, test)"),
    };

    private static LlamaConfig Architecture(int dim, int layers, int heads, int kvHeads, int ffn, int context) => new()
    {
        HiddenSize = dim, NumHiddenLayers = layers, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads,
        IntermediateSize = ffn, MaxPositionEmbeddings = context, RmsNormEps = 1e-5, RopeTheta = 10000,
    };

    /// <summary>
    /// At most 15 minutes on 2 cores (measured as CPU time, user + sys, halved). M0 (2.7M parameters)
    /// takes about 3 minutes: below about 600 steps the model writes the right sentence for a task but
    /// with a word or number that is not the prompt's (it has not learned to copy), and then neither
    /// its answers nor its judgments can be right; a model of 1M parameters copies so badly inside the
    /// long judge prompt that its judgments work out the right answer in under a third of its samples
    /// (docs/demo.md). Then, for each of two seeds, three SFT epochs for the baseline and M1 (M1, with
    /// 6,000 judging examples, is most of a seed's 5 minutes), and two iterations of 160 prompts.
    /// </summary>
    public static DemoPreset Default { get; } = new()
    {
        Name = "default",
        World = new WorldDataOptions { CorpusDocuments = 6000, IftExamples = 3200, EftTrainPrompts = 1500, EftEvalPrompts = 192,
            ImperfectIftFraction = 0.75, EftContrastsExtraText = true },
        VocabSize = 768,
        Model = Architecture(dim: 192, layers: 6, heads: 6, kvHeads: 2, ffn: 512, context: 256),
        PretrainSteps = 640,
        PretrainBatchTokens = 4096,
        PretrainLearningRate = 3e-3,
        WriterModel = Architecture(dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 176, context: 256),
        LoopSeeds = 2,
        Run = new RunConfig
        {
            Iterations = 2, Seed = 1, GenerationRows = 64, GenerationBatch = 16,
            Sft = new SftOptions { LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = 20, Epochs = 3, ExamplesPerStep = 32, MicroBatchTokens = 4096, CheckpointEvery = 50 },
            // Far above the paper's 1e-6: a model this small moves little per step, and an iteration has only a few dozen steps.
            Dpo = new DpoOptions { LearningRate = 2e-4, MinLearningRate = 2e-5, Epochs = 3, PairsPerStep = 16, MicroBatchTokens = 4096, Beta = 0.1, CheckpointEvery = 50 },
            Prompts = new PromptsConfig { Count = 160, Shots = 8, MinWords = 2, MaxRougeL = 1.0, Sampling = new SamplingOptions { Temperature = 0.6, TopP = 0.9, MaxTokens = 32 } },
            Candidates = 4,
            CandidateSampling = new SamplingOptions { Temperature = 0.7, TopP = 0.9, MaxTokens = 48 },
            // The world's answers are one sentence, so one cut at 48 tokens has run off and is wrong
            // by construction; a real model's far larger budget is rarely reached, and keeps them.
            TruncatedAnswers = TruncatedAnswers.Drop,
            JudgeSamples = 3,
            JudgeSampling = new SamplingOptions { Temperature = 0.7, TopP = 0.9, MaxTokens = 64 },
        },
    };

    /// <summary>At most 3 minutes on 2 cores; a smaller world and model, the same stages.</summary>
    public static DemoPreset Quick { get; } = Default with
    {
        Name = "quick",
        World = new WorldDataOptions { CorpusDocuments = 3000, IftExamples = 1200, EftTrainPrompts = 600, EftEvalPrompts = 40,
            ImperfectIftFraction = 0.75, EftContrastsExtraText = true },
        VocabSize = 512,
        Model = Architecture(dim: 128, layers: 4, heads: 4, kvHeads: 2, ffn: 352, context: 256),
        LoopSeeds = 1,
        PretrainSteps = 640,
        PretrainBatchTokens = 4096,
        EvalPrompts = 64,
        Run = Default.Run with
        {
            Sft = Default.Run.Sft with { ExamplesPerStep = 16 },
            Dpo = Default.Run.Dpo with { PairsPerStep = 8 },
            Prompts = Default.Run.Prompts with { Count = 48 },
        },
    };

    /// <summary>Seconds: the end-to-end test of every stage.</summary>
    public static DemoPreset Test { get; } = Quick with
    {
        Name = "test",
        World = new WorldDataOptions { EvalPrompts = 16, CorpusDocuments = 400, IftExamples = 96, EftTrainPrompts = 24, EftEvalPrompts = 8 },
        VocabSize = 384,
        Model = Architecture(dim: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 88, context: 320),
        PretrainSteps = 60,
        PretrainBatchTokens = 1024,
        WriterModel = Architecture(dim: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 88, context: 320),
        LoopSeeds = 2,
        WriterLists = 200,
        WriterSteps = 20,
        WriterBatchTokens = 1024,
        EvalPrompts = 8,
        Run = Quick.Run with
        {
            Iterations = 1, GenerationBatch = 4,
            Sft = Quick.Run.Sft with { Epochs = 1, ExamplesPerStep = 16, MicroBatchTokens = 2048, CheckpointEvery = 2 },
            Dpo = Quick.Run.Dpo with { Epochs = 1, PairsPerStep = 4, MicroBatchTokens = 2048, CheckpointEvery = 2 },
            Prompts = Quick.Run.Prompts with { Count = 8, MaxAttemptsPerPrompt = 4 },
            Candidates = 2, JudgeSamples = 2,
            CandidateSampling = Quick.Run.CandidateSampling with { MaxTokens = 24 },
            JudgeSampling = Quick.Run.JudgeSampling with { MaxTokens = 48 },
        },
    };
}
