using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
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
        Directory.CreateDirectory(_tokenizer);
        using var tokenizerFolder = new ScratchFolder();
        TokenizerFixture.WriteTokenizerJson(tokenizerFolder, TokenizerFixture.Llama2Specials, bos: "<s>", eos: "</s>");
        foreach (string file in Directory.GetFiles(tokenizerFolder.Path))
            File.Copy(file, Path.Combine(_tokenizer, Path.GetFileName(file)));
        _data = _dir.File("corpus.txt");
        var lines = Enumerable.Range(0, 48).Select(i => string.Join(' ', Enumerable.Repeat(i % 3 == 0 ? "hello world" : i % 3 == 1 ? "or hello" : "world or", 1 + i % 4)));
        File.WriteAllText(_data, string.Join("\n\n", lines));
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>train-lm with steps of 4 micro-batches or so (256 tokens a step, 64 a pass), so each of 2 ranks has work.</summary>
    private string[] TrainLm(string output) =>
    [
        "train-lm", "--data", _data, "--tokenizer", _tokenizer, "--out", output, "--layers", "2", "--dim", "16", "--heads", "2", "--context", "16",
        "--batch-tokens", "256", "--micro-batch-tokens", "64", "--lr", "1e-2", "--warmup", "2", "--steps", "12", "--checkpoint-every", "4",
        "--seed", "3", "--threads", "1", "--log-every", "1",
    ];

    private static float[] Weights(string folder)
    {
        using var kernels = new CpuKernels();
        using var model = ModelCheckpoint.Load(kernels, folder);
        var values = new float[model.Layout.TotalLength];
        kernels.Download(model.Parameters, values);
        return values;
    }

    private static double[] Logged(string folder, string name) =>
        [.. File.ReadAllLines(Path.Combine(folder, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.TryGetProperty(name, out _)).Select(r => r.GetProperty(name).GetDouble())];

    [Fact]
    [Trait("Category", "PerBlas")]
    public void TwoRanksTrainWhatOneRankTrainsAndTwoRunsOfTwoRanksAgreeBitForBit()
    {
        string one = _dir.File("one"), two = _dir.File("two"), again = _dir.File("again");
        var alone = FsrProcess.Run(FsrProcess.Dotnet, [FsrProcess.Dll, .. TrainLm(one)]);
        Assert.True(alone.ExitCode == 0, alone.Error);
        var pair = FsrProcess.UnderMpirun(2, TrainLm(two));
        Assert.True(pair.ExitCode == 0, pair.Error + pair.Out);
        Assert.Contains("2 ranks, data-parallel", pair.Out);
        Assert.Single(pair.Out.Split('\n'), l => l.StartsWith("train-lm: 12 steps", StringComparison.Ordinal));
        var pairAgain = FsrProcess.UnderMpirun(2, TrainLm(again));
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
        var (a, b) = (Weights(one), Weights(two));
        double worst = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(a[i]));
        }
        Assert.True(worst <= 1e-4 * scale, $"weights differ by up to {worst} (largest weight {scale})");
        Assert.False(File.Exists(Path.Combine(two, "train-state.safetensors")));
    }
}
