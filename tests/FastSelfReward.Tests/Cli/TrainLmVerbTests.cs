using System.Diagnostics;
using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Tests.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Cli;

public sealed class TrainLmVerbTests : IDisposable
{
    private readonly ScratchFolder _dir = new();
    private readonly string _tokenizer;

    public TrainLmVerbTests()
    {
        _tokenizer = Path.Combine(_dir.Path, "tokenizer");
        TokenizerFixture.WriteTokenizerJson(_tokenizer, TokenizerFixture.Llama2Specials, bos: "<s>", eos: "</s>");
    }

    public void Dispose() => _dir.Dispose();

    private string[] TrainArgs(string data, string output, params string[] extra) =>
    [
        "train-lm", "--data", data, "--tokenizer", _tokenizer, "--out", output,
        "--layers", "1", "--dim", "16", "--heads", "2", "--context", "16",
        "--batch-tokens", "128", "--lr", "1e-2", "--warmup", "2", "--log-every", "1", "--seed", "3", .. extra,
    ];

    [Fact]
    public void TrainingReducesTheLossAndWritesALoadableCheckpointAndMetrics()
    {
        string data = _dir.File("corpus.txt");
        File.WriteAllText(data, string.Join("\n\n", Enumerable.Repeat("hello world", 12)) + "\n\n" + string.Join("\n\n", Enumerable.Repeat("or hello", 12)));
        string output = _dir.File("model");

        var result = CliRunner.Run(TrainArgs(data, output, "--steps", "40", "--checkpoint-every", "10"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("saved", result.Out);
        var records = File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(Enumerable.Range(1, 40), records.Select(r => r.GetProperty("step").GetInt32()));
        foreach (string key in new[] { "loss", "learning_rate", "grad_norm", "tokens_per_s", "time" })
            Assert.True(records[0].TryGetProperty(key, out _), key);
        double first = records[0].GetProperty("loss").GetDouble(), last = records[^1].GetProperty("loss").GetDouble();
        Assert.True(last < 0.5 * first, $"loss went from {first} to {last}");

        using var kernels = new CpuKernels();
        using var model = ModelCheckpoint.Load(kernels, output);
        Assert.Equal(112, model.Config.VocabSize);
        Assert.Equal(16, model.Config.MaxPositionEmbeddings);
        Assert.Equal(110, model.Config.BosTokenId);
        Assert.Equal([111], model.Config.EosTokenIds);
        Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));
        // A finished run leaves no training state behind (it was saved every 10 steps on the way).
        Assert.False(File.Exists(Path.Combine(output, "train-state.safetensors")));
        Assert.DoesNotContain("resum", result.Out);

        // Plain progress lines, every step, ending with the time taken.
        string[] lines = result.Error.Trim().Split('\n');
        Assert.Equal(40, lines.Length);
        Assert.Matches(@"^train-lm step  1/40 \| loss \d+\.\d{6} \| lr \d\.\d\de-\d\d \| norm \d+\.\d{4} \| \d+ tok/s \| eta ", lines[0]);
        Assert.Contains("took", lines[^1]);
    }

    [Fact]
    public void JsonlConfigAndEpochs()
    {
        string data = _dir.File("corpus.jsonl");
        File.WriteAllLines(data, ["{\"text\": \"hello world\"}", "", "{\"text\": \"or hello or\"}"]);
        string config = _dir.File("config.json");
        File.WriteAllText(config, """{"vocab_size": 120, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32}""");
        string output = _dir.File("from-config");

        var result = CliRunner.Run("train-lm", "--data", data, "--tokenizer", _tokenizer, "--out", output, "--config", config, "--epochs", "3", "--batch-tokens", "8");

        Assert.Equal(0, result.ExitCode);
        using var kernels = new CpuKernels();
        using var model = ModelCheckpoint.Load(kernels, output);
        Assert.Equal(120, model.Config.VocabSize);
        Assert.Equal(32, model.Config.IntermediateSize);
    }

    [Fact]
    public void ConfigVocabularySmallerThanTheTokenizerIsNamed()
    {
        string data = _dir.File("corpus.txt");
        File.WriteAllText(data, "hello world");
        string config = _dir.File("config.json");
        File.WriteAllText(config, """{"vocab_size": 50, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}""");

        var result = CliRunner.Run("train-lm", "--data", data, "--tokenizer", _tokenizer, "--out", _dir.File("o"), "--config", config);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"fsr train-lm: {config}: vocab_size 50 is smaller than the tokenizer's 112 ids", result.Error.Trim());
    }

    [Fact]
    public void SizeOptionsWithConfigAreAUsageError()
    {
        var result = CliRunner.Run("train-lm", "--data", "d", "--tokenizer", _tokenizer, "--out", "o", "--config", "c.json", "--dim", "32", "--layers", "2");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--config cannot be combined with --layers, --dim", result.Error);
    }

    [Fact]
    public void An_output_folder_another_process_holds_is_refused_and_left_alone()
    {
        string data = _dir.File("held.txt");
        File.WriteAllText(data, "hello world\n\nworld hello");
        string output = _dir.File("held");
        using (FolderLock.Acquire(output))
        {
            var result = CliRunner.Run("train-lm", "--data", data, "--tokenizer", _tokenizer, "--out", output, "--steps", "2", "--dim", "16", "--heads", "2", "--layers", "1");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains($"{output} is in use by process {Environment.ProcessId}", result.Error);
            Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
            Assert.False(File.Exists(Path.Combine(output, Pretraining.MetricsFileName)));
        }
    }

    /// <summary>
    /// SIGTERM to a running `fsr train-lm` (Ctrl-C's SIGINT takes the same handler, but a process
    /// started in the background, as a test host may be, inherits SIGINT ignored): it stops at the
    /// next step boundary, saves its state there, says so with exit code 130, and the same command
    /// finishes the run with the weights of one never interrupted.
    /// </summary>
    [Fact]
    public async Task A_signal_stops_at_a_step_boundary_with_the_state_saved_and_a_rerun_finishes_the_same_model()
    {
        const string signal = "TERM";
        string data = _dir.File($"signal-{signal}.txt");
        File.WriteAllText(data, string.Join("\n\n", Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? "hello world" : "or hello")));
        string whole = _dir.File($"whole-{signal}"), stopped = _dir.File($"stopped-{signal}");
        string[] Args(string output) => [.. TrainArgs(data, output, "--steps", "2000", "--checkpoint-every", "5000")[1..]];
        Assert.Equal(0, CliRunner.Run(["train-lm", .. Args(whole)]).ExitCode);

        using var process = FsrProcess.Start(["train-lm", .. Args(stopped)]);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        string metrics = Path.Combine(stopped, Pretraining.MetricsFileName);
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 5))
        {
            Assert.False(process.HasExited, "train-lm ended before the signal");
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "train-lm never logged five steps");
            await Task.Delay(1);
        }
        using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString()])) kill.WaitForExit();
        using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
            await process.WaitForExitAsync(limit.Token);
        string error = await stderr;
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {error}");
        var match = System.Text.RegularExpressions.Regex.Match(error, @"fsr train-lm: interrupted at step (\d+); rerun the same command to resume");
        Assert.True(match.Success, error);
        Assert.True(int.Parse(match.Groups[1].Value) < 2000, "the run finished before the signal; make it longer");
        using (var state = SafetensorsFile.Open(Path.Combine(stopped, Pretraining.StateFileName)))
            Assert.Equal(match.Groups[1].Value, state.Metadata["step"]);
        await stdout;

        var rerun = CliRunner.Run(["train-lm", .. Args(stopped)]);
        Assert.True(rerun.ExitCode == 0, rerun.Error);
        Assert.Contains($"resumed after step {match.Groups[1].Value}", rerun.Out);
        Assert.True(File.ReadAllBytes(Path.Combine(whole, "model.safetensors")).SequenceEqual(File.ReadAllBytes(Path.Combine(stopped, "model.safetensors"))),
            "the interrupted and resumed model differs from the uninterrupted one");
    }

    [Fact]
    public void A_finished_output_is_left_alone_by_the_same_command_and_refused_to_another_unless_overwritten()
    {
        string data = _dir.File("again.txt");
        File.WriteAllText(data, string.Join("\n\n", Enumerable.Repeat("hello world", 8)));
        string output = _dir.File("again");
        string[] args = TrainArgs(data, output, "--steps", "4");
        Assert.Equal(0, CliRunner.Run(args).ExitCode);
        string weights = Path.Combine(output, "model.safetensors"), metrics = Path.Combine(output, Pretraining.MetricsFileName);
        byte[] first = File.ReadAllBytes(weights);
        int logged = File.ReadAllLines(metrics).Length;

        var same = CliRunner.Run(args);
        Assert.Equal(0, same.ExitCode);
        Assert.Contains("already holds this run's finished model", same.Out);
        Assert.Equal(first, File.ReadAllBytes(weights));
        Assert.Equal(logged, File.ReadAllLines(metrics).Length);

        string[] other = TrainArgs(data, output, "--steps", "4", "--weight-decay", "0.05");
        var refused = CliRunner.Run(other);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"--out: {output} holds a model trained on other data or settings", refused.Error);
        Assert.Contains("pass --overwrite", refused.Error);
        Assert.Equal(first, File.ReadAllBytes(weights));

        Assert.Equal(0, CliRunner.Run([.. other, "--overwrite"]).ExitCode);
        Assert.NotEqual(first, File.ReadAllBytes(weights));
        Assert.Equal(4, File.ReadAllLines(metrics).Length);

        // A model folder that train-lm did not write.
        string foreign = _dir.File("foreign");
        using (var kernels = new CpuKernels())
        using (var model = ModelCheckpoint.Load(kernels, output))
            ModelCheckpoint.Save(model, foreign);
        var refusedForeign = CliRunner.Run(TrainArgs(data, foreign, "--steps", "4"));
        Assert.Equal(2, refusedForeign.ExitCode);
        Assert.Contains("holds a model train-lm did not make", refusedForeign.Error);
    }
}
