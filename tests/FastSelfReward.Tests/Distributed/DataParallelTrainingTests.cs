using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.SelfReward;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Tests.Text;

namespace FastSelfReward.Tests.Distributed;

/// <summary>
/// Training under mpirun: N ranks each take their share of every step's micro-batches and add their
/// gradients in rank order, so 2 ranks train what 1 rank trains on the same steps, to rounding.
/// </summary>
public sealed class DataParallelTrainingTests : IDisposable
{
    private readonly ScratchFolder _dir = new();
    private readonly string _tokenizer, _data;

    public DataParallelTrainingTests()
    {
        _tokenizer = Path.Combine(_dir.Path, "tokenizer");
        TokenizerFixture.WriteTokenizerJson(_tokenizer, TokenizerFixture.Llama2Specials, bos: "<s>", eos: "</s>");
        _data = _dir.File("corpus.txt");
        var lines = Enumerable.Range(0, 48).Select(i => string.Join(' ', Enumerable.Repeat(i % 3 == 0 ? "hello world" : i % 3 == 1 ? "or hello" : "world or", 1 + i % 4)));
        File.WriteAllText(_data, string.Join("\n\n", lines));
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>train-lm with steps of 4 micro-batches or so (256 tokens a step, 64 a pass), so each of 2 ranks has work.</summary>
    private string[] TrainLm(string output, int steps = 12, int checkpointEvery = 4, int dim = 16) =>
    [
        "train-lm", "--data", _data, "--tokenizer", _tokenizer, "--out", output, "--layers", "2", "--dim", $"{dim}", "--heads", "2", "--context", "16",
        "--batch-tokens", "256", "--micro-batch-tokens", "64", "--lr", "1e-2", "--warmup", "2", "--steps", $"{steps}", "--checkpoint-every", $"{checkpointEvery}",
        "--seed", "3", "--threads", "1", "--log-every", "1",
    ];


    private static double[] Logged(string folder, string name) =>
        [.. File.ReadAllLines(Path.Combine(folder, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.TryGetProperty(name, out _)).Select(r => r.GetProperty(name).GetDouble())];

    [Theory]
    [Trait("Category", "PerBlas")]
    [InlineData("cpu")]
    [InlineData("emulated")]
    public void TwoRanksTrainWhatOneRankTrainsAndTwoRunsOfTwoRanksAgreeBitForBit(string device)
    {
        string one = _dir.File($"one-{device}"), two = _dir.File($"two-{device}"), again = _dir.File($"again-{device}");
        string[] on = ["--device", device, "--precision", "fp32"];
        var alone = FsrProcess.Alone([.. TrainLm(one), .. on]);
        Assert.True(alone.ExitCode == 0, alone.Error);
        var pair = FsrProcess.UnderMpirun(2, [.. TrainLm(two), .. on]);
        Assert.True(pair.ExitCode == 0, pair.Error + pair.Out);
        Assert.Contains("2 ranks, data-parallel", pair.Out);
        Assert.Single(pair.Out.Split('\n'), l => l.StartsWith("train-lm: 12 steps", StringComparison.Ordinal));
        var pairAgain = FsrProcess.UnderMpirun(2, [.. TrainLm(again), .. on]);
        Assert.True(pairAgain.ExitCode == 0, pairAgain.Error);

        // Sums in rank order: the same job gives the same bits.
        Assert.Equal(File.ReadAllBytes(Path.Combine(two, "model.safetensors")), File.ReadAllBytes(Path.Combine(again, "model.safetensors")));

        // The same steps as one rank: the losses and weights agree to rounding (each rank's share is
        // summed on its own before the ranks are added, an order one rank does not take).
        // The gradient norm (before clipping) shows a gradient counted twice or only in part, which
        // AdamW's scale-free update and the mean loss would hide.
        foreach (string name in new[] { "loss", "grad_norm" })
        {
            var (ofOne, ofTwo) = (Logged(one, name), Logged(two, name));
            Assert.Equal(12, ofTwo.Length);
            for (int i = 0; i < ofOne.Length; i++)
                Assert.True(Math.Abs(ofOne[i] - ofTwo[i]) <= 1e-4 * Math.Abs(ofOne[i]), $"{name} of step {i + 1}: {ofOne[i]} alone, {ofTwo[i]} on 2 ranks");
        }
        SavedWeights.AssertClose(one, two, "2 ranks against 1");
        Assert.False(File.Exists(Path.Combine(two, "train-state.safetensors")));
    }

    [Theory]
    [InlineData(2, "cpu", "fp32")]
    // Three ranks: a parameter count no rank count divides, so the last range is short; and the
    // emulated GPU, whose buffers are summed through host memory as a GPU's are without NCCL; in
    // bf16 mixed precision each rank also keeps only its range of the fp32 master weights.
    [InlineData(3, "cpu", "fp32")]
    [InlineData(2, "emulated", "fp32")]
    [InlineData(3, "emulated", "bf16")]
    public void ZeroOneTrainsTheWeightsOfPlainDataParallelBitForBit(int ranks, string device, string precision)
    {
        string sharded = _dir.File($"sharded-{ranks}-{device}-{precision}"), replicated = _dir.File($"replicated-{ranks}-{device}-{precision}");
        string[] on = ["--device", device, "--precision", precision];
        var zero = FsrProcess.UnderMpirun(ranks, [.. TrainLm(sharded), .. on]);
        Assert.True(zero.ExitCode == 0, zero.Error + zero.Out);
        var plain = FsrProcess.UnderMpirun(ranks, [.. TrainLm(replicated), "--replicate-optimizer", .. on]);
        Assert.True(plain.ExitCode == 0, plain.Error + plain.Out);
        Assert.Equal(File.ReadAllBytes(Path.Combine(replicated, "model.safetensors")), File.ReadAllBytes(Path.Combine(sharded, "model.safetensors")));
        Assert.Equal(Logged(replicated, "grad_norm"), Logged(sharded, "grad_norm"));
    }

    /// <summary>Longer than <see cref="TrainLm"/> and saving every 2 steps, so that a kill lands between a save and the end.</summary>
    private string[] LongTrainLm(string output) => TrainLm(output, steps: 60, checkpointEvery: 2, dim: 32);

    [Fact]
    public void ATwoRankJobKilledMidRunResumesToTheWeightsOfAnUninterruptedOneBitForBit()
    {
        string whole = _dir.File("whole-2"), killed = _dir.File("killed-2");
        var uninterrupted = FsrProcess.UnderMpirun(2, LongTrainLm(whole));
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error);
        FsrProcess.KillWhen(2, LongTrainLm(killed), () => File.Exists(Path.Combine(killed, "train-state.safetensors")));
        Assert.False(File.Exists(Path.Combine(killed, "model.safetensors")), "the job finished before the kill");
        var resumed = FsrProcess.UnderMpirun(2, LongTrainLm(killed));
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains("resumed after step", resumed.Out);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
    }

    [Fact]
    public void ARankThatFailsEndsTheJobNamingItselfAndLeavesNoModel()
    {
        // Rank 1 is given a corpus that does not exist; rank 0 would otherwise wait for it forever.
        string output = _dir.File("failed");
        var result = FsrProcess.UnderMpirunEach(TrainLm(output), [.. TrainLm(output).Select(a => a == _data ? _data + ".missing" : a)]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("fsr train-lm (rank 1 of 2): ", result.Error);
        Assert.Contains(".missing: no such training file", result.Error);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    [Fact]
    public void RanksStartedWithDifferentSettingsAreRefusedNamingTheRankThatDiffers()
    {
        string output = _dir.File("mismatch");
        var result = FsrProcess.UnderMpirunEach(TrainLm(output), TrainLm(output, steps: 13));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("rank 1 of 2 would train another model, data, settings or seed than rank 0", result.Error);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    public void AStateSavedByOneNumberOfRanksResumesOnAnother(int before, int after)
    {
        string reference = _dir.File($"reference-{before}-{after}"), resumed = _dir.File($"resumed-{before}-{after}");
        var whole = FsrProcess.Alone(LongTrainLm(reference));
        Assert.True(whole.ExitCode == 0, whole.Error);

        string state = Path.Combine(resumed, "train-state.safetensors");
        FsrProcess.KillWhen(before, LongTrainLm(resumed), () => File.Exists(state));
        var rest = FsrProcess.Ranks(after, LongTrainLm(resumed));
        Assert.True(rest.ExitCode == 0, rest.Error + rest.Out);
        Assert.Contains("resumed after step", rest.Out);

        // Moments saved whole by rank 0 and taken back range by range (or whole): the rest of the run
        // trains what an uninterrupted one does, to rounding.
        SavedWeights.AssertClose(reference, resumed, $"resumed on {after} rank(s) from a state of {before}");
    }
}

/// <summary>The run's training stages under mpirun: SFT and DPO on 2 ranks against 1, on the test demo's data and M0.</summary>
public sealed class DataParallelStageTests(DemoInputsFixture fixture) : IClassFixture<DemoInputsFixture>
{
    private static void Ok(FsrProcess.Result result) => Assert.True(result.ExitCode == 0, result.Error + result.Out);

    [Fact]
    [Trait("Category", "PerBlas")]
    public void SftAndDpoOnTwoRanksTrainWhatOneRankTrains() => TwoRanksAgainstOne("cpu");

    /// <summary>The same on the emulated GPU (about two minutes: every kernel runs on the CPU emulator), whose buffers are summed through host memory as a GPU's are without NCCL.</summary>
    [Fact]
    public void SftAndDpoOnTwoRanksTrainWhatOneRankTrainsOnTheEmulatedGpu() => TwoRanksAgainstOne("emulated");

    private void TwoRanksAgainstOne(string device)
    {
        string config = Path.Combine(fixture.NewRunFolder() + "-config", "run.json");
        Directory.CreateDirectory(Path.GetDirectoryName(config)!);
        // Micro-batches of a few examples, so that both ranks have a share of every step.
        File.WriteAllText(config, (fixture.Config with
        {
            Sft = fixture.Config.Sft with { MicroBatchTokens = 512 },
            Dpo = fixture.Config.Dpo with { MicroBatchTokens = 1024, PairsPerStep = 8 },
        }).ToJson());
        string alone = fixture.NewRunFolder(), pair = fixture.NewRunFolder();
        string[] threads = ["--threads", "1", "--device", device, "--precision", "fp32"];

        Ok(FsrProcess.Alone(["sft", "--run", alone, "--config", config, .. threads]));
        var sft = FsrProcess.UnderMpirun(2, ["sft", "--run", pair, "--config", config, .. threads]);
        Ok(sft);
        SavedWeights.AssertClose(Path.Combine(alone, "models", "sft"), Path.Combine(pair, "models", "sft"), "sft");
        Assert.True(RunManifestDone(pair, "sft"));
        // Rank 0 alone logs and writes the metrics: one record per step, one "done".
        Assert.Single(sft.Error.Split('\n'), l => l.Trim() == "sft: done");
        Assert.Equal(File.ReadAllLines(Path.Combine(alone, "metrics.jsonl")).Count(l => l.Contains("\"sft/loss\"")),
            File.ReadAllLines(Path.Combine(pair, "metrics.jsonl")).Count(l => l.Contains("\"sft/loss\"")));

        // M1 alone, then the same hand-made pairs (an IFT answer preferred to another prompt's) in two copies.
        foreach (string[] verb in new[] { new[] { "eft" }, ["sft", "--m1"] })
            Ok(FsrProcess.Alone([.. verb, "--run", alone, .. threads]));
        RunFolders.WithHandMadePairs(alone, fixture.Config.Ift);
        string dpoPair = RunFolders.Copy(alone, fixture.NewRunFolder());

        Ok(FsrProcess.Alone(["dpo", "--run", alone, .. threads]));
        Ok(FsrProcess.UnderMpirun(2, ["dpo", "--run", dpoPair, .. threads]));
        SavedWeights.AssertClose(Path.Combine(alone, "models", "m2"), Path.Combine(dpoPair, "models", "m2"), "dpo");
        // Each pair's reference log-probs come from the same micro-batch on whichever rank scored it.
        Assert.Equal(File.ReadAllBytes(Path.Combine(alone, "iter1", "reference_logps.jsonl")),
            File.ReadAllBytes(Path.Combine(dpoPair, "iter1", "reference_logps.jsonl")));
        Assert.True(RunManifestDone(dpoPair, "iter1/dpo"));
    }

    private static bool RunManifestDone(string folder, string stage) => RunManifest.Open(folder).IsDone(stage);
}
