using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Distributed;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Reporting;
using FastSelfReward.Text;

namespace FastSelfReward.SelfReward;

/// <summary>
/// What every stage of a run shares: the run folder and its manifest, the configuration, the
/// backend, the tokenizer and chat template of the base model, the judge template, progress and
/// metrics. Stages know nothing of kernels; they load models, train, generate and write artifacts.
/// </summary>
public sealed class RunContext : IDisposable
{
    private readonly FolderLock? _lock;
    private readonly string[] _tokenizerFiles;

    /// <param name="directory">The run folder.</param>
    /// <param name="config">The run's configuration.</param>
    /// <param name="kernels">The backend.</param>
    /// <param name="progress">Where progress goes.</param>
    /// <param name="log">Where the stages' log lines go.</param>
    /// <param name="acceptChangedInputs">Go on when an input's contents differ from <see cref="RunInputs"/>' record, recording the new ones.</param>
    /// <param name="world">The ranks running the run together: rank 0 holds the folder, checks the inputs and writes; the others train beside it. Null: this process alone.</param>
    /// <exception cref="FolderInUseException">Another process has the run folder.</exception>
    /// <exception cref="InvalidOperationException">The run was computed with another backend or CPU thread count (<see cref="ComputeRecord"/>).</exception>
    /// <exception cref="InvalidDataException">An input's contents differ from those the run recorded.</exception>
    public RunContext(string directory, RunConfig config, IKernels kernels, IProgressSink progress, TextWriter log, bool acceptChangedInputs = false,
        Communicator? world = null)
    {
        Directory = Path.GetFullPath(directory);
        World = world ?? Communicator.Single;
        _lock = World.IsRoot ? FolderLock.Acquire(Directory) : null;
        try
        {
            Config = config.Validate();
            Kernels = kernels;
            Progress = progress;
            Log = log;
            Hashes = FileHashes.Open(Directory);
            Manifest = RunManifest.Open(Directory, Hashes);
            Tokenizer = TextTokenizer.Load(config.BaseModel);
            Template = ChatTemplate.Create(Tokenizer, config.Template == "auto" ? null : config.Template);
            Judge = config.JudgeTemplate is null ? JudgeTemplate.Default : JudgeTemplate.Load(config.JudgeTemplate);
            ModelConfig = LlamaConfigJson.Read(Path.Combine(config.BaseModel, "config.json"));
            Exclusion = new PromptExclusion(config.ExcludePrompts is null ? [] : PromptFile.Read(config.ExcludePrompts), config.Prompts.MaxRougeL);
            Metrics = World.IsRoot ? MetricsLog.Open(Path.Combine(Directory, "metrics.jsonl")) : null;
            _tokenizerFiles = System.IO.Directory.GetFiles(config.BaseModel)
                .Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal) && !f.EndsWith(".safetensors.index.json", StringComparison.Ordinal)
                            && Path.GetFileName(f) != "config.json" && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal).ToArray();
            if (World.IsRoot)
            {
                ComputeRecord.Of(kernels).CheckOrWrite(Directory);
                RunInputs.CheckOrRecord(Directory, config, Hashes, acceptChangedInputs, log);
            }
        }
        catch
        {
            _lock?.Dispose();
            throw;
        }
    }

    public string Directory { get; }
    public RunConfig Config { get; }
    public IKernels Kernels { get; }
    public RunManifest Manifest { get; }

    /// <summary>The digests of the run's inputs and artifacts, each file read whole once per run.</summary>
    public FileHashes Hashes { get; }
    public ITextTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    public JudgeTemplate Judge { get; }
    public Model.LlamaConfig ModelConfig { get; }
    public IProgressSink Progress { get; }

    /// <summary>The evaluation prompts (exclude_prompts): kept out of the IFT and EFT data, the self-instruct shots and the generated prompts.</summary>
    public PromptExclusion Exclusion { get; }
    /// <summary>metrics.jsonl, which rank 0 alone writes (null on the other ranks).</summary>
    public MetricsLog? Metrics { get; }

    /// <summary>The ranks running the run together (one unless mpirun started several).</summary>
    public Communicator World { get; }

    /// <summary>Above one rank, each rank keeps its range of the optimizer's moments only (ZeRO-1, the default); false replicates them.</summary>
    public bool ShardOptimizer { get; set; } = true;
    public TextWriter Log { get; }

    /// <summary>The tokenizer files of the base model (they key the reference log-probs).</summary>
    public IReadOnlyList<string> TokenizerFiles => _tokenizerFiles;

    /// <summary>Generation stops at end-of-turn ids of the template and at the tokenizer's EOS.</summary>
    public IReadOnlyList<int> StopIds => Completions.StopIds(ModelConfig, Tokenizer, Template);

    /// <summary>Absolute path of a file or folder inside the run.</summary>
    public string PathOf(string relative) => Path.Combine(Directory, relative);

    /// <summary>The folder of a run model (sft, m1, m2, ...).</summary>
    public static string ModelFolder(string name) => Path.Combine("models", name);

    /// <summary>Loads a run model by name (sft, m1, ...), or M0 when the name is null; <paramref name="folder"/> overrides both.</summary>
    public LlamaModel LoadModel(string? name, string? folder = null) =>
        ModelCheckpoint.Load(Kernels, folder ?? (name is null ? Config.BaseModel : PathOf(ModelFolder(name))));

    /// <summary>
    /// Saves a model (on rank 0; every rank holds the same weights) as a Hugging Face folder with the tokenizer files, in <see cref="RunConfig.ModelDtype"/>,
    /// through a temporary folder renamed into place, so a killed save never leaves a half-written
    /// model under the final name. Returns the artifacts relative to the run folder.
    /// </summary>
    public IReadOnlyList<string> SaveModel(LlamaModel model, string name)
    {
        SaveCheckpoint(model, ModelFolder(name));
        return ModelArtifacts(name);
    }

    /// <summary>The artifacts of a run model: its config and weights, relative to the run folder.</summary>
    public static IReadOnlyList<string> ModelArtifacts(string name) =>
        [Path.Combine(ModelFolder(name), "config.json"), Path.Combine(ModelFolder(name), "model.safetensors")];

    /// <summary><see cref="SaveModel"/> into any folder of the run (<paramref name="relative"/>), replacing what is there (by rank 0; the others write nothing).</summary>
    public void SaveCheckpoint(LlamaModel model, string relative)
    {
        if (!World.IsRoot) return;
        string final = PathOf(relative), temporary = final + ".tmp";
        if (System.IO.Directory.Exists(temporary)) System.IO.Directory.Delete(temporary, recursive: true);
        ModelCheckpoint.Save(model, temporary, Config.BaseModel,
            Config.ModelDtype == ModelDtype.Bfloat16 ? SafetensorsDtype.BF16 : SafetensorsDtype.F32);
        if (System.IO.Directory.Exists(final)) System.IO.Directory.Delete(final, recursive: true);
        System.IO.Directory.Move(temporary, final);
    }

    /// <summary>Writes one metrics record whose names are prefixed by the stage.</summary>
    public void Record(string stage, long step, IEnumerable<KeyValuePair<string, double>> values) =>
        Metrics?.Write(step, values.Select(v => KeyValuePair.Create($"{stage}/{v.Key}", v.Value)));

    /// <summary>Seed of one stage's random numbers, distinct per stage and stable across runs.</summary>
    public ulong SeedOf(string stage) => StableHash.Of(stage, (ulong)Config.Seed);

    /// <summary>
    /// Completes prompts given as token ids; each text is <see cref="Completions.Text"/>, trimmed (the
    /// stop token stays out of the text; the finish reason records it), decoded with the run's
    /// tokenizer or with <paramref name="tokenizer"/>, the generating model's own.
    /// </summary>
    public List<(string Text, FinishReason Finish)[]> Generate(Generator generator, IReadOnlyList<GenerationRequest> requests, SamplingOptions options,
        ITextTokenizer? tokenizer = null)
    {
        var sequences = generator.Generate(requests, options);
        var results = new List<(string, FinishReason)[]>(requests.Count);
        int next = 0;
        foreach (var request in requests)
        {
            var samples = new (string, FinishReason)[request.Samples];
            for (int s = 0; s < request.Samples; s++, next++)
                samples[s] = (Completions.Text(sequences[next], tokenizer ?? Tokenizer).Trim(), sequences[next].FinishReason);
            results.Add(samples);
        }
        return results;
    }

    public void Dispose()
    {
        Metrics?.Dispose();
        _lock?.Dispose();
    }
}
