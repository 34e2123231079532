using System.Diagnostics;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.Demo;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;
using FastSelfReward.Tests.Cli;
using FastSelfReward.Tests.TestSupport;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.SelfReward;

/// <summary>
/// The demo's data, tokenizer and M0 (made once for the class), a run configuration over them whose
/// stages are long enough to be killed part-way, and a run folder in which SFT, EFT and M1 have
/// finished, copied by each test that needs that prefix.
/// </summary>
public sealed class ResumeFixture : IDisposable
{
    public ResumeFixture()
    {
        Folder = Path.Combine(Path.GetTempPath(), "fsr-resume-" + Guid.NewGuid().ToString("N"));
        var test = DemoInputsFixture.Write(Folder);
        // One prompt per batch and more prompts and candidates than the end-to-end test, so the
        // generation stages append many batches over some seconds; more, smaller SFT steps with
        // frequent checkpoints, so a kill lands between checkpoints rather than after the stage.
        Config = test with
        {
            GenerationBatch = 1, Candidates = 4,
            Prompts = test.Prompts with { Count = 24, MaxAttemptsPerPrompt = 8, Sampling = test.Prompts.Sampling with { MaxTokens = 64 } },
            CandidateSampling = test.CandidateSampling with { MaxTokens = 48 },
            Sft = test.Sft with { Epochs = 2, ExamplesPerStep = 8, CheckpointEvery = 2 },
        };
        ConfigFile = Path.Combine(Folder, "run.json");
        File.WriteAllText(ConfigFile, Config.ToJson());

        Prefix = Path.Combine(Folder, "prefix");
        foreach (string[] verb in new[] { new[] { "sft" }, ["eft"], ["sft", "--m1"] })
        {
            var result = CliRunner.Run([.. verb, "--run", Prefix, "--config", ConfigFile]);
            if (result.ExitCode != 0) throw new InvalidOperationException($"fsr {string.Join(' ', verb)}: {result.Error}");
        }
    }

    public string Folder { get; }
    public RunConfig Config { get; }
    public string ConfigFile { get; }

    /// <summary>A run folder with sft, eft and m1 done.</summary>
    public string Prefix { get; }

    /// <summary>
    /// A copy of <see cref="Prefix"/> under a new name. Its inputs.json records the fixture's inputs,
    /// so a test that opens it with another input accepts that change (acceptChangedInputs).
    /// </summary>
    public string CopyOfPrefix(string name)
    {
        return RunFolders.Copy(Prefix, Path.Combine(Folder, name));
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Runs alone: a stage must outlast the poll that kills it, so no other test shares the cores meanwhile.</summary>
[CollectionDefinition(nameof(RunResumeTests), DisableParallelization = true)]
public sealed class RunResumeCollection;

/// <summary>
/// A run killed mid-stage (the `fsr` process, killed from outside) resumes with a rerun and ends with
/// the artifacts, byte for byte, and the weights an uninterrupted run writes.
/// </summary>
[Collection(nameof(RunResumeTests))]
public sealed class RunResumeTests(ResumeFixture fixture, ITestOutputHelper output) : IClassFixture<ResumeFixture>
{
    [Fact]
    [Trait("Category", "PerBlas")]
    public void GenerationStagesKilledMidwayResumeToTheSameArtifacts()
    {
        string uninterrupted = fixture.CopyOfPrefix("whole");
        var whole = CliRunner.Run("iterate", "--run", uninterrupted, "--config", fixture.ConfigFile);
        Assert.True(whole.ExitCode == 0, whole.Error);

        string killed = fixture.CopyOfPrefix("killed");
        // Killed while writing prompts (the filter's state and the attempt counter must be restored),
        // while writing candidates and while judging them, each after at least one batch is on disk;
        // then a rerun finishes the run.
        foreach (string stage in new[] { "iter1/prompts", "iter1/candidates", "iter1/judgments" })
        {
            KillWhen(killed, () => CompleteLines(Path.Combine(killed, stage + ".jsonl")) >= 1);
            var manifest = RunManifest.Open(killed);
            Assert.True(manifest.Stages.TryGetValue(stage, out var entry) && entry.Status == StageStatus.Partial,
                $"{stage} finished before the kill; make the stage bigger");
        }
        var resumed = Fsr("iterate", "--run", killed);
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains("iter1/candidates: done, skipped", resumed.Error);
        Assert.Matches(@"iter1/judgments: resumed after \d+ of \d+ answers judged", resumed.Error);

        // Every file of the iteration (prompts, candidates, judgments, pairs, reference log-probs when DPO ran) and M2.
        string[] IterationFiles(string run) =>
            [.. new[] { "iter1", "models/m2" }.SelectMany(d => Directory.GetFiles(Path.Combine(run, d))).Select(f => Path.GetRelativePath(run, f)).Order()];
        var artifacts = IterationFiles(uninterrupted);
        Assert.Contains("iter1/judgments.jsonl", artifacts);
        Assert.Equal(artifacts, IterationFiles(killed));
        foreach (string artifact in artifacts)
            Assert.True(File.ReadAllBytes(Path.Combine(uninterrupted, artifact)).SequenceEqual(File.ReadAllBytes(Path.Combine(killed, artifact))),
                $"{artifact} differs from the uninterrupted run's");
        Assert.True(RunManifest.Open(killed).IsDone("iter1/dpo"));
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void TrainingStageKilledResumesFromItsCheckpointToTheSameWeights()
    {
        string run = Path.Combine(fixture.Folder, "sft-killed");
        string state = Path.Combine(run, "train", "sft", "state.safetensors");
        KillWhen(run, () => File.Exists(state), "sft", "--config", fixture.ConfigFile);
        Assert.False(RunManifest.Open(run).IsDone("sft"), "sft finished before the kill; make it longer");

        var resumed = Fsr("sft", "--run", run);
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains("sft: resumed from step", resumed.Error);
        foreach (string file in new[] { "config.json", "model.safetensors" })
            Assert.True(File.ReadAllBytes(Path.Combine(fixture.Prefix, "models", "sft", file))
                .SequenceEqual(File.ReadAllBytes(Path.Combine(run, "models", "sft", file))), $"models/sft/{file} differs from the uninterrupted run's");
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void DpoKilledBetweenCheckpointsResumesToTheSameWeights()
    {
        string WithPairs(string name)
        {
            string folder = fixture.CopyOfPrefix(name);
            RunFolders.WithHandMadePairs(folder, fixture.Config.Ift);
            return folder;
        }
        string whole = WithPairs("dpo-whole");
        var uninterrupted = CliRunner.Run("dpo", "--run", whole);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error);

        string killed = WithPairs("dpo-killed");
        KillWhen(killed, () => File.Exists(Path.Combine(killed, "train", "m2", "state.safetensors")), "dpo");
        Assert.False(RunManifest.Open(killed).IsDone("iter1/dpo"), "dpo finished before the kill; make it longer");
        var resumed = Fsr("dpo", "--run", killed);
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains("iter1/dpo: resumed from step", resumed.Error);
        foreach (string file in new[] { "models/m2/model.safetensors", "iter1/reference_logps.jsonl" })
            Assert.True(File.ReadAllBytes(Path.Combine(whole, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(killed, file))),
                $"{file} differs from the uninterrupted run's");
    }

    [Fact]
    public void AConfigThatDisagreesWithTheRunsIsAnError()
    {
        string run = Path.Combine(fixture.Folder, "mismatch");
        Directory.CreateDirectory(run);
        File.Copy(fixture.ConfigFile, Path.Combine(run, "run.json"));
        string other = Path.Combine(fixture.Folder, "other.json");
        File.WriteAllText(other, (fixture.Config with { Seed = fixture.Config.Seed + 1 }).ToJson());

        var result = CliRunner.Run("iterate", "--run", run, "--config", other);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(other, result.Error);
        Assert.Contains(Path.Combine(run, "run.json"), result.Error);
        Assert.Contains("seed", result.Error);
        Assert.False(File.Exists(Path.Combine(run, "manifest.json")), "nothing may run under a disagreeing configuration");
    }

    [Fact]
    public void ASecondProcessOnARunFolderRefusesAtOnceAndAKilledHolderBlocksNothing()
    {
        string run = fixture.CopyOfPrefix("locked");
        string holderFile = Path.Combine(run, FolderLock.HolderFileName);
        using var first = FsrProcess.Start(["iterate", "--run", run]);
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(holderFile) && File.ReadAllText(holderFile).Trim() == first.Id.ToString()))
        {
            Assert.False(first.HasExited, "the first fsr ended before it took the run folder");
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "the first fsr never took the run folder");
            Thread.Sleep(1);
        }

        var second = CliRunner.Run("iterate", "--run", run);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"{run} is in use by process {first.Id}", second.Error);

        first.Kill(entireProcessTree: true);
        first.WaitForExit();
        using var taken = FolderLock.Acquire(run);
    }

    [Fact]
    public void ARunIsRefusedByAProcessWithAnotherThreadCountNamingBoth()
    {
        string folder = Path.Combine(fixture.Folder, "threads");
        using var kernels = new CpuKernels();
        var progress = new PlainProgress(TextWriter.Null);
        int threads = CpuKernels.Threads;
        try
        {
            CpuKernels.Threads = 2;
            using (RunFolder.Open(folder, fixture.Config, "run.json", kernels, progress, TextWriter.Null)) { }
            CpuKernels.Threads = 1;
            var error = Assert.Throws<InvalidOperationException>(() => RunFolder.Open(folder, null, "", kernels, progress, TextWriter.Null));
            Assert.Contains("this run was computed with 2 CPU threads and this process has 1", error.Message);
            Assert.Contains("continue it with 2 threads", error.Message);
            CpuKernels.Threads = 2;
            using (RunFolder.Open(folder, null, "", kernels, progress, TextWriter.Null)) { }
        }
        finally
        {
            CpuKernels.Threads = threads;
        }
    }

    [Fact]
    public void RedoingAStageDeletesWhatItAndTheStagesAfterItWroteAndRunsThemAgainToTheSameResult()
    {
        string run = fixture.CopyOfPrefix("redo");
        string m1 = Path.Combine(run, "models", "m1", "model.safetensors");
        byte[] before = File.ReadAllBytes(m1);
        using var kernels = new CpuKernels();
        var log = new StringWriter();
        using (var context = RunFolder.Open(run, null, "", kernels, new PlainProgress(TextWriter.Null), log))
        {
            var stages = new SelfRewardingRun(context);
            stages.Redo(StageId.Parse("eft"));
            Assert.True(context.Manifest.IsDone("sft"));
            Assert.False(context.Manifest.Stages.ContainsKey("eft"));
            Assert.False(context.Manifest.Stages.ContainsKey("m1"));
            Assert.False(Directory.Exists(Path.Combine(run, "eft")));
            Assert.False(File.Exists(m1));
            Assert.True(File.Exists(Path.Combine(run, "models", "sft", "model.safetensors")));
            stages.RunStage(StageId.Parse("eft"));
            stages.RunStage(StageId.Parse("m1"));
        }
        Assert.Contains("eft: to be redone, with the 6 stages after it", log.ToString());
        Assert.True(before.SequenceEqual(File.ReadAllBytes(m1)), "the redone M1 differs from the first one");
        Assert.Equal(2, CliRunner.Run("iterate", "--run", run, "--redo", "iter0/dpo").ExitCode);
    }

    [Theory]
    [InlineData(TruncatedAnswers.Keep, new[] { 0, 1, 2 })]
    [InlineData(TruncatedAnswers.Unpaired, new[] { 0, 1, 2 })]
    [InlineData(TruncatedAnswers.Drop, new[] { 0, 2 })]
    public void TheJudgeSeesATruncatedAnswerUnlessTheRuleDropsIt(TruncatedAnswers rule, int[] judged)
    {
        string folder = fixture.CopyOfPrefix($"truncated-{rule}");
        var ift = Jsonl.ReadAll<IftRecord>(fixture.Config.Ift).Records;
        Jsonl.WriteAll(Path.Combine(folder, "iter1", "prompts.jsonl"), [new PromptRecord("p0", ift[0].Prompt, "test")]);
        Jsonl.WriteAll(Path.Combine(folder, "iter1", "candidates.jsonl"),
            [new CandidatesRecord("p0", ift[0].Prompt, [ift[0].Response, ift[1].Response, ift[2].Response], [FinishReason.Stop, FinishReason.Length, FinishReason.Stop])]);
        var manifest = RunManifest.Open(folder);
        manifest.MarkDone("iter1/prompts", folder, ["iter1/prompts.jsonl"]);
        manifest.MarkDone("iter1/candidates", folder, ["iter1/candidates.jsonl"]);
        using var kernels = new CpuKernels();
        var log = new StringWriter();
        using (var run = new RunContext(folder, fixture.Config with { TruncatedAnswers = rule }, kernels, new PlainProgress(TextWriter.Null), log))
            new SelfRewardingRun(run).RunStage(new StageId(StageKind.Judgments, 1));
        Assert.Equal(judged, Jsonl.ReadAll<JudgmentRecord>(Path.Combine(folder, "iter1", "judgments.jsonl")).Records.Select(r => r.Candidate));
        Assert.Matches(@"iter1/judgments: \d answers judged \d+× \(this session: \d+ scores parsed, \d+ parse failures, \d+ judgments cut at max_tokens \d+\)", log.ToString());
    }

    [Fact]
    public void ARunStoredBeforeTheTruncationRuleGoesOnDroppingAndANewOneKeeps()
    {
        using var kernels = new CpuKernels();
        var progress = new PlainProgress(TextWriter.Null);
        string fresh = Path.Combine(fixture.Folder, "rule-fresh");
        using (var run = RunFolder.Open(fresh, fixture.Config with { TruncatedAnswers = TruncatedAnswers.Keep }, "run.json", kernels, progress, TextWriter.Null))
            Assert.Equal(TruncatedAnswers.Keep, run.Config.TruncatedAnswers);
        using (var run = RunFolder.Open(fresh, null, "", kernels, progress, TextWriter.Null))
            Assert.Equal(TruncatedAnswers.Keep, run.Config.TruncatedAnswers);

        string old = Path.Combine(fixture.Folder, "rule-old");
        Directory.CreateDirectory(old);
        var stored = System.Text.Json.Nodes.JsonNode.Parse((fixture.Config with { TruncatedAnswers = TruncatedAnswers.Keep }).ToJson())!.AsObject();
        stored.Remove("truncated_answers");
        File.WriteAllText(Path.Combine(old, RunFolder.ConfigFileName), stored.ToJsonString());
        using (var run = RunFolder.Open(old, null, "", kernels, progress, TextWriter.Null))
            Assert.Equal(TruncatedAnswers.Drop, run.Config.TruncatedAnswers);
    }

    /// <summary>
    /// A prompt writer with a tokenizer of its own (another BPE, 300 ids against the policy's 384):
    /// its prompts are encoded and its output decoded with its tokenizer, and it stops at its own
    /// end-of-sequence id. Given the policy's ids instead, its embedding would be asked for ids it
    /// does not have. (The writer is untrained, so its prompts may all fail the filters.)
    /// </summary>
    [Fact]
    public void APromptWriterWithAnotherTokenizerWritesWithItsOwn()
    {
        string writer = Path.Combine(fixture.Folder, "writer"), writerTokenizer = Path.Combine(fixture.Folder, "writer-tokenizer");
        var ift = Jsonl.ReadAll<IftRecord>(fixture.Config.Ift).Records;
        FastSelfReward.Text.BpeTrainer.Train(ift.SelectMany(r => new[] { r.Prompt, r.Response }), new FastSelfReward.Text.BpeTrainerOptions { VocabSize = 300 }).Save(writerTokenizer);
        var tokenizer = FastSelfReward.Text.TextTokenizer.Load(writerTokenizer);
        Assert.NotEqual(FastSelfReward.Text.TextTokenizer.Load(fixture.Config.BaseModel).VocabSize, tokenizer.VocabSize);
        using var kernels = new CpuKernels();
        var config = new FastSelfReward.Model.ModelShape { Layers = 1, HiddenSize = 16, Heads = 2, Context = 256 }
            .ToConfig(tokenizer.VocabSize, tokenizer.BosId ?? 0, [tokenizer.EosId!.Value]);
        using (var model = new FastSelfReward.Model.LlamaModel(kernels, config))
        {
            model.InitializeRandom(5);
            FastSelfReward.Checkpoints.ModelCheckpoint.Save(model, writer, writerTokenizer);
        }

        string folder = fixture.CopyOfPrefix("writer-run");
        var log = new StringWriter();
        var withWriter = fixture.Config with
        {
            Prompts = fixture.Config.Prompts with { PromptModel = writer, Count = 2, MaxAttemptsPerPrompt = 2, MinWords = 1 },
        };
        Exception? error;
        using (var run = new RunContext(folder, withWriter, kernels, new PlainProgress(TextWriter.Null), log, acceptChangedInputs: true))
            error = Record.Exception(() => new SelfRewardingRun(run).RunStage(new StageId(StageKind.Prompts, 1)));
        Assert.True(error is null || (error is InvalidDataException && error.Message.Contains("no generated prompt passed the filters")),
            $"the writer did not run: {error}");
        Assert.Matches(@"iter1/prompts: \d+ prompts accepted of \d+ attempts", log.ToString());
    }

    [Fact]
    public void AFailedFirstOpeningStoresNoConfigurationAndTheCorrectedOneStarts()
    {
        string folder = Path.Combine(fixture.Folder, "first-open");
        using var kernels = new CpuKernels();
        var progress = new PlainProgress(TextWriter.Null);
        var broken = fixture.Config with { JudgeTemplate = Path.Combine(fixture.Folder, "no-such-template.txt") };
        Assert.ThrowsAny<IOException>(() => RunFolder.Open(folder, broken, "broken.json", kernels, progress, TextWriter.Null));
        Assert.False(RunFolder.IsStarted(folder), "a failed first opening wrote run.json");
        Assert.Throws<FileNotFoundException>(() => RunFolder.Open(folder, null, "", kernels, progress, TextWriter.Null));

        using (var run = RunFolder.Open(folder, fixture.Config, "good.json", kernels, progress, TextWriter.Null))
            Assert.Equal(fixture.Config.Seed, run.Config.Seed);
        Assert.Empty(RunConfig.Load(Path.Combine(folder, RunFolder.ConfigFileName)).DifferencesFrom(fixture.Config));
        using (var reopened = RunFolder.Open(folder, null, "", kernels, progress, TextWriter.Null))
            Assert.Empty(reopened.Config.DifferencesFrom(fixture.Config));
        var error = Assert.Throws<InvalidOperationException>(() =>
            RunFolder.Open(folder, fixture.Config with { Iterations = 3 }, "other.json", kernels, progress, TextWriter.Null));
        Assert.Contains("other.json differs", error.Message);
        Assert.Contains("in iterations", error.Message);
    }

    [Fact]
    public void AnEftJudgePromptLongerThanTheContextIsNotJudgedRatherThanCut()
    {
        string folder = RunWithOnlySftDone("long-eft");
        string eft = Path.Combine(folder, "eft_long.jsonl");
        string longAnswer = string.Concat(Enumerable.Repeat("It is sunny and warm today, with a light wind from the west. ", 30));
        Jsonl.WriteAll(eft, [new EftRecord("Describe the weather.", [new RankedResponse("It is sunny.", 0), new RankedResponse(longAnswer, 1)])]);
        var log = new StringWriter();
        using var kernels = new CpuKernels();
        using (var run = new RunContext(folder, fixture.Config with { Eft = eft, EftMode = EftMode.Model }, kernels, new PlainProgress(TextWriter.Null), log, acceptChangedInputs: true))
        {
            Assert.True(run.Template.Render(run.Judge.Render("Describe the weather.", longAnswer)).PromptIds.Count >= run.ModelConfig.MaxPositionEmbeddings);
            // The tiny SFT model writes no parseable score, so no judge example survives; what matters is what it judged.
            Assert.Throws<InvalidDataException>(() => new SelfRewardingRun(run).RunStage(new StageId(StageKind.Eft)));
        }
        var judgments = Jsonl.ReadAll<JudgmentRecord>(Path.Combine(folder, "eft", "sft_judgments.jsonl")).Records;
        Assert.Equal([0, 1], judgments.Select(j => j.Candidate));
        Assert.Equal(fixture.Config.JudgeSamples, judgments[0].Samples.Count);
        Assert.Empty(judgments[1].Samples);
        Assert.Contains("eft: 1 responses not judged", log.ToString());
    }

    [Fact]
    public void EvaluationPromptsAreKeptOutOfTheJudgeTrainingSet()
    {
        string folder = RunWithOnlySftDone("exclusion");
        string excluded = Jsonl.ReadAll<EftRecord>(fixture.Config.Eft).Records[0].Prompt;
        string file = Path.Combine(folder, "held_out.txt");
        File.WriteAllText(file, excluded.ToUpperInvariant() + "\n");
        var log = new StringWriter();
        using var kernels = new CpuKernels();
        using (var run = new RunContext(folder, fixture.Config with { ExcludePrompts = file }, kernels, new PlainProgress(TextWriter.Null), log, acceptChangedInputs: true))
            new SelfRewardingRun(run).RunStage(new StageId(StageKind.Eft));
        Assert.Contains("ranked sets dropped: their prompt is an evaluation prompt", log.ToString());
        var examples = Jsonl.ReadAll<JudgeExample>(Path.Combine(folder, "eft", "judge_train.jsonl")).Records;
        Assert.NotEmpty(examples);
        Assert.DoesNotContain(examples, e => e.Prompt.Contains(excluded, StringComparison.Ordinal));
    }

    [Fact]
    public void EachStageOfARunIsOneNvtxRangeAroundItsWork()
    {
        string folder = fixture.CopyOfPrefix("nvtx");
        var config = fixture.Config with
        {
            GenerationBatch = 8, JudgeSamples = 1,
            Prompts = fixture.Config.Prompts with { Count = 2 },
            JudgeSampling = fixture.Config.JudgeSampling with { MaxTokens = 16 },
        };
        using var kernels = new CpuKernels();
        using var recorder = new RangeRecorder();
        using (var run = new RunContext(folder, config, kernels, new PlainProgress(TextWriter.Null), TextWriter.Null))
            new SelfRewardingRun(run).RunAll();
        output.WriteLine(string.Join("\n", recorder.Ranges));

        Assert.Equal(0, recorder.Open);
        Assert.Equal(StageId.All(1).Select(s => s.Name), recorder.Ranges.Select(r => r.Name));
        var stages = recorder.Ranges.ToDictionary(r => r.Name);
        // Finished stages are only verified; the pairs stage only reads and writes files.
        foreach (string stage in new[] { "sft", "eft", "m1", "iter1/pairs" }) Assert.Empty(stages[stage].Children);
        // The writing stages are generation batches, each a prefill forward and then decode steps.
        foreach (string stage in new[] { "iter1/prompts", "iter1/candidates", "iter1/judgments" })
        {
            Assert.NotEmpty(stages[stage].Children);
            Assert.All(stages[stage].Children, batch =>
            {
                Assert.Equal("generate", batch.Name);
                Assert.Equal("forward", batch.Children[0].Name);
                Assert.All(batch.Children.Skip(1), step => Assert.Equal("decode", step.Name));
            });
        }
        // DPO trains when the tiny model's judgments made at least two pairs, and is skipped otherwise.
        Assert.All(stages["iter1/dpo"].Children, r => Assert.Contains(r.Name, new[] { "reference logps", "dpo step", "evaluate", "checkpoint" }));
    }

    /// <summary>A copy of the prefix whose manifest has only the SFT baseline finished, so the eft stage runs next.</summary>
    private string RunWithOnlySftDone(string name)
    {
        string folder = fixture.CopyOfPrefix(name);
        File.Delete(Path.Combine(folder, "manifest.json"));
        RunManifest.Open(folder).MarkDone("sft", folder, ["models/sft/config.json", "models/sft/model.safetensors"]);
        return folder;
    }

    /// <summary>Starts `fsr iterate` (or the given verb) on <paramref name="run"/> and kills the process tree once <paramref name="condition"/> holds.</summary>
    private void KillWhen(string run, Func<bool> condition, params string[] verb)
    {
        string[] args = verb.Length == 0 ? ["iterate", "--run", run] : [verb[0], "--run", run, .. verb[1..]];
        var killed = FsrProcess.KillWhen(1, args, condition);
        output.WriteLine($"killed fsr {string.Join(' ', args)}:\n{killed.Error}{killed.Out}");
    }

    private (int ExitCode, string Error) Fsr(params string[] args)
    {
        var result = FsrProcess.Alone(args);
        output.WriteLine($"fsr {string.Join(' ', args)} → {result.ExitCode}:\n{result.Error}{result.Out}");
        return (result.ExitCode, result.Error);
    }

    private static int CompleteLines(string path)
    {
        if (!File.Exists(path)) return 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int lines = 0, b;
        while ((b = stream.ReadByte()) >= 0) if (b == '\n') lines++;
        return lines;
    }
}
