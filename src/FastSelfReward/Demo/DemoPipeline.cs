using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Model;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;
using FastSelfReward.Text;
using FastSelfReward.Training;
using FastSelfReward.World;

namespace FastSelfReward.Demo;

/// <summary>
/// The paper's experiment in miniature, end to end: the world writes its data files; a BPE
/// tokenizer is trained on the corpus; M0 is pretrained from scratch; then the self-rewarding loop
/// runs unchanged on those files (it never sees the world). Every step writes into one folder and
/// is skipped when its output is already there, so a killed demo resumes.
/// </summary>
public sealed class DemoPipeline(DemoPreset preset, string folder, IKernels kernels, IProgressSink progress, TextWriter log)
{
    public string Folder { get; } = Path.GetFullPath(folder);
    public string DataFolder => Path.Combine(Folder, "data");
    public string TokenizerFolder => Path.Combine(Folder, "tokenizer");
    public string BaseModelFolder => Path.Combine(Folder, "m0");
    public string PromptWriterFolder => Path.Combine(Folder, "prompt_writer");
    public string RunFolder => Path.Combine(Folder, "run");
    public string JudgeTemplateFile => Path.Combine(Folder, "judge_template.txt");
    public string EvaluationFolder => Path.Combine(Folder, "eval");
    public string PlotsFolder => Path.Combine(Folder, "plots");

    /// <summary>
    /// The demo's judge prompt: the paper's five additive criteria, said briefly. The built-in
    /// template is written for large models; at a context of a few hundred tokens on two CPU cores
    /// every judgment pays for its length (training M1, judging, evaluating), so the demo states the
    /// same rubric in as few words as keep it recognisable.
    /// </summary>
    public const string JudgeTemplateText =
        "Score the response with the additive 5-point system: +1 relevant, +1 covers the question, +1 answers it usefully, " +
        "+1 a clear assistant answer, +1 tailored with nothing extraneous.\n" +
        "User: {prompt}\n<response>{response}</response>\nJustify briefly, then end with \"Score: <points>\".";

    /// <summary>
    /// Data, tokenizer, M0, the prompt writer, then for each of the preset's seeds the loop and the
    /// oracle's evaluation of every model it made; writes report.md, report.json and plots/ (the first
    /// seed's) into the demo folder and returns the report.
    /// </summary>
    /// <exception cref="FolderInUseException">Another process has the demo folder.</exception>
    public DemoReport Run(CancellationToken cancel = default)
    {
        using var hold = FolderLock.Acquire(Folder);
        var files = WriteData();
        TrainTokenizer(files);
        PretrainBaseModel(files, cancel);
        TrainPromptWriter(files, cancel);
        File.WriteAllText(JudgeTemplateFile, JudgeTemplateText);
        var seeds = new List<SeedRun>();
        for (int s = 0; s < preset.LoopSeeds; s++)
        {
            int seed = preset.Run.Seed + s;
            var config = (preset.Run with
            {
                Seed = seed, BaseModel = BaseModelFolder, Ift = files.Ift, Eft = files.EftTrain, EftMode = EftMode.Gold,
                ExcludePrompts = files.EvalPrompts, JudgeTemplate = JudgeTemplateFile,
                Prompts = preset.Run.Prompts with { PromptModel = PromptWriterFolder },
            }).Validate($"demo preset {preset.Name}");
            if (preset.LoopSeeds > 1) log.WriteLine($"demo: the loop with seed {seed} ({s + 1} of {preset.LoopSeeds})");
            using var run = SelfReward.RunFolder.Open(RunFolderOf(s), config, $"demo preset {preset.Name}", kernels, progress, log);
            new SelfRewardingRun(run).RunAll(cancel);
            // The world comes back only here, after the loop has finished, to grade what it made.
            var evaluation = new DemoEvaluation(run, files, preset.EvalPrompts, EvaluationFolderOf(s));
            seeds.Add(new SeedRun(seed, RunFolderOf(s), evaluation.EvaluateAll(cancel)));
        }

        var report = DemoReport.Build(preset.Name, seeds, PromptWriterFolder, DemoEvaluation.OracleScores(files));
        report.Write(Folder);
        DemoPlots.Write(PlotsFolder, report, Path.Combine(Folder, "pretrain_metrics.jsonl"), Path.Combine(RunFolder, "metrics.jsonl"));
        return report;
    }

    /// <summary>The run folder of the loop's <paramref name="index"/>-th seed: run/, then run-2/, run-3/, ...</summary>
    public string RunFolderOf(int index) => index == 0 ? RunFolder : $"{RunFolder}-{index + 1}";

    /// <summary>The evaluation folder of the loop's <paramref name="index"/>-th seed: eval/, then eval-2/, ...</summary>
    public string EvaluationFolderOf(int index) => index == 0 ? EvaluationFolder : $"{EvaluationFolder}-{index + 1}";

    public WorldDataFiles WriteData()
    {
        var files = new WorldDataFiles(Path.Combine(DataFolder, "corpus.jsonl"), Path.Combine(DataFolder, "ift.jsonl"),
            Path.Combine(DataFolder, "eft_train.jsonl"), Path.Combine(DataFolder, "eft_eval.jsonl"), Path.Combine(DataFolder, "eval_prompts.jsonl"));
        if (File.Exists(files.EvalPrompts)) return files;
        log.WriteLine($"demo: writing the world's data ({preset.World.IftExamples} IFT, {preset.World.EftTrainPrompts} EFT prompts)");
        return WorldData.Write(DataFolder, preset.World);
    }

    private IEnumerable<string> Corpus(WorldDataFiles files) =>
        File.ReadLines(files.Corpus).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!);

    public void TrainTokenizer(WorldDataFiles files)
    {
        if (File.Exists(Path.Combine(TokenizerFolder, "vocab.json"))) return;
        log.WriteLine($"demo: training a byte-level BPE tokenizer of {preset.VocabSize} tokens");
        // The judge prompt and judgments are part of what the model reads and writes, so the
        // tokenizer learns their words too.
        var texts = Corpus(files)
            .Concat(Jsonl.Read<IftRecord>(files.Ift).SelectMany(r => new[] { r.Prompt, r.Response }))
            .Concat(Jsonl.Read<EftRecord>(files.EftTrain).SelectMany(r => r.Responses.Select(x => x.Judgment ?? "")))
            .Concat(Enumerable.Repeat(JudgeTemplateText, 50));
        string temporary = TokenizerFolder + ".tmp";
        BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = preset.VocabSize }).Save(temporary);
        Directory.Move(temporary, TokenizerFolder);
    }

    /// <summary>
    /// The prompt writer, fixed and separate from the policy as in the paper: a small causal LM trained
    /// from scratch on lists of IFT prompts laid out exactly as the loop's self-instruction prompt
    /// (<see cref="SelfInstruct.BuildPrompt"/>: the header, then <c>Task 1: …</c> up to one more task
    /// than the loop shows), each list ending with the end-of-text token, so that given the loop's
    /// shots it writes one more task and stops. Trained through <see cref="Pretraining"/>, so a killed
    /// demo resumes it; the loop loads it through its <c>prompts.prompt_model</c> option and knows
    /// nothing else about it.
    /// </summary>
    public void TrainPromptWriter(WorldDataFiles files, CancellationToken cancel)
    {
        if (File.Exists(Path.Combine(PromptWriterFolder, "model.safetensors")) && !File.Exists(Path.Combine(PromptWriterFolder, Pretraining.StateFileName))) return;
        var tokenizer = TextTokenizer.Load(TokenizerFolder);
        int eos = tokenizer.EosId ?? throw new InvalidDataException($"{TokenizerFolder}: the tokenizer has no end-of-text token");
        var pool = Jsonl.ReadAll<IftRecord>(files.Ift).Records.Select(r => r.Prompt).ToList();
        int shots = preset.Run.Prompts.Shots;
        ulong seed = (ulong)preset.World.Seed;
        var lists = Enumerable.Range(0, preset.WriterLists).Select(i =>
        {
            var tasks = SelfInstruct.SampleShots(pool, shots + 1, seed, i);
            return SelfInstruct.BuildPrompt(tasks.Take(tasks.Count - 1).ToList()) + " " + tasks[^1];
        });
        var config = preset.WriterModel with { VocabSize = tokenizer.VocabSize, TieWordEmbeddings = false, BosTokenId = eos, EosTokenIds = [eos] };
        var examples = TextCorpus.Tokenize(lists, tokenizer, config.MaxPositionEmbeddings);
        log.WriteLine($"demo: training the prompt writer ({config.ParameterCount:N0} parameters) on {examples.Count:N0} lists of {shots + 1} IFT prompts, {preset.WriterSteps} steps");
        using var model = new LlamaModel(kernels, config);
        model.InitializeRandom(preset.World.Seed + 1);
        var options = new PretrainOptions
        {
            Steps = preset.WriterSteps, LearningRate = preset.WriterLearningRate, WarmupSteps = Math.Min(50, preset.WriterSteps / 10),
            BatchTokens = preset.WriterBatchTokens, LogEvery = 1, CheckpointEvery = 100, WeightDecay = 0.01,
        };
        Pretraining.Run(model, examples, options, preset.World.Seed, PromptWriterFolder, TokenizerFolder, progress, cancel, overwrite: true);
    }

    /// <summary>M0: causal-LM pretraining from scratch on the corpus, packed into context-long windows.</summary>
    public void PretrainBaseModel(WorldDataFiles files, CancellationToken cancel)
    {
        if (File.Exists(Path.Combine(BaseModelFolder, "model.safetensors"))) return;
        var tokenizer = TextTokenizer.Load(TokenizerFolder);
        int eos = tokenizer.EosId ?? throw new InvalidDataException($"{TokenizerFolder}: the tokenizer has no end-of-text token");
        var config = preset.Model with { VocabSize = tokenizer.VocabSize, TieWordEmbeddings = false, BosTokenId = eos, EosTokenIds = [eos] };
        int window = config.MaxPositionEmbeddings;
        var stream = new List<int>();
        foreach (string text in Corpus(files)) { stream.AddRange(tokenizer.Encode(text)); stream.Add(eos); }
        var windows = new List<LmExample>();
        for (int start = 0; start + window <= stream.Count; start += window) windows.Add(new LmExample([.. stream.GetRange(start, window)]));
        if (windows.Count == 0) throw new InvalidDataException("demo: the corpus is shorter than one context window");

        log.WriteLine($"demo: pretraining M0 ({config.ParameterCount:N0} parameters) on {stream.Count:N0} corpus tokens, {preset.PretrainSteps} steps");
        using var model = new LlamaModel(kernels, config);
        model.InitializeRandom(preset.World.Seed);
        var options = new PretrainOptions
        {
            Steps = preset.PretrainSteps, LearningRate = preset.PretrainLearningRate, WarmupSteps = Math.Min(preset.PretrainWarmupSteps, preset.PretrainSteps / 2),
            BatchTokens = Math.Max(1, preset.PretrainBatchTokens / window) * window, LogEvery = 1, CheckpointEvery = 50, WeightDecay = 0.01,
        };
        // The state file lets a killed demo resume pretraining, its longest step, where it stopped.
        string state = Path.Combine(Folder, "m0-state.safetensors");
        using (var metrics = MetricsLog.Open(Path.Combine(Folder, "pretrain_metrics.jsonl")))
        using (var training = TrainingRun.Create(model, new CausalLmObjective(model), windows, options, preset.World.Seed))
            training.Run(new TrainingOutput { CheckpointPath = state, Progress = progress, Label = "m0 pretraining", Metrics = metrics }, cancel);
        string temporary = BaseModelFolder + ".tmp";
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        ModelCheckpoint.Save(model, temporary, TokenizerFolder);
        Directory.Move(temporary, BaseModelFolder);
        File.Delete(state);
    }
}
