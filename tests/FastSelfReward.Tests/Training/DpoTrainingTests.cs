using System.Text.Json;
using FastSelfReward.Compute;
using FastSelfReward.Reporting;
using FastSelfReward.Tests.Compute.Cuda;
using FastSelfReward.Model;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class DpoTrainingTests
{
    /// <summary>Pairs of random prompts and answers of different lengths, so packing and sums are exercised.</summary>
    private static PreferencePair[] RandomPairs(int vocab, int count, int seed)
    {
        var random = new Random(seed);
        int[] Ids(int min, int max) => Enumerable.Range(0, random.Next(min, max + 1)).Select(_ => random.Next(vocab)).ToArray();
        return Enumerable.Range(0, count).Select(_ => new PreferencePair(Ids(1, 5), Ids(1, 6), Ids(1, 6))).ToArray();
    }

    /// <summary>A DPO run over <paramref name="pairs"/> against <paramref name="reference"/> (computed from the current weights when null).</summary>
    private static TrainingRun<DpoExample, DpoMetrics> Training(LlamaModel model, PreferencePair[] pairs, DpoOptions? options = null,
        ReferenceLogProbs? reference = null, int seed = 0)
    {
        options ??= new DpoOptions { HeldOutFraction = 0 };
        reference ??= ReferenceLogProbs.Compute(model, pairs, "test", 4096);
        return TrainingRun.Create(model, new DpoObjective(model, options), reference.Examples(pairs), options, seed);
    }

    /// <summary>The run's examples at <paramref name="indices"/>.</summary>
    private static DpoExample[] At(TrainingRun<DpoExample, DpoMetrics> training, params int[] indices) =>
        [.. indices.Select(i => training.TrainExamples[i])];

    [Theory]
    [InlineData(DType.F64, 1e-12)]
    [InlineData(DType.F32, 1e-6)]
    public void SigmoidLossIsLn2WhileThePolicyIsTheReference(DType type, double tolerance)
    {
        using var kernels = new CpuKernels(type);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, type);
        var pairs = RandomPairs(config.VocabSize, 6, seed: 1);
        using var trainer = Training(model, pairs);

        model.ZeroGradients();
        var metrics = trainer.AccumulateGradients(trainer.PlanEpoch(0)[0]);

        Assert.Equal(6, metrics.Pairs);
        Assert.Equal(Math.Log(2), metrics.Loss, tolerance);
        Assert.Equal(0, metrics.RewardsMargins, tolerance);
        Assert.Equal(0, metrics.RewardsChosen, tolerance);
        Assert.True(metrics.LogpsChosen < 0 && metrics.LogpsRejected < 0);
        Assert.Equal(Math.Log(2), trainer.Evaluate(trainer.TrainExamples).Loss, tolerance);
    }

    /// <summary>
    /// DPO on a bf16 model on the emulated GPU. Step 0 is ln 2 up to the batch-shape dependence of the
    /// GEMMs (the reference log-probs are computed in other batches; a GEMM library picks its kernels by
    /// shape, on a GPU as in the emulator's BLAS, and bf16 rounding turns those last-bit differences into
    /// 2⁻⁹ ones: measured 1.5e-4 off). Once the policy moves, its gradient follows the fp32 CPU model's
    /// (measured: 1.9% of the gradient's norm).
    /// </summary>
    [Fact]
    public void A_bf16_model_on_the_emulated_gpu_starts_at_ln2_and_follows_the_fp32_gradient()
    {
        var config = TinyModels.Config() with { HiddenSize = 32, IntermediateSize = 48 };
        var pairs = RandomPairs(config.VocabSize, 4, seed: 3);
        float[] Gradient(IKernels kernels, DType type, out double stepZeroLoss)
        {
            using var model = TinyModels.Create(kernels, config, type);
            using (var trainer = Training(model, pairs))
            {
                model.ZeroGradients();
                stepZeroLoss = trainer.AccumulateGradients(trainer.PlanEpoch(0)[0]).Loss;
            }
            var reference = ReferenceLogProbs.Compute(model, pairs, "test", 4096);
            model.InitializeRandom(8, 0.3);
            model.ZeroGradients();
            using (var moved = Training(model, pairs, new DpoOptions { HeldOutFraction = 0, Beta = 0.5 }, reference))
                moved.AccumulateGradients([moved.TrainExamples]);
            var values = new float[model.Layout.TotalLength];
            kernels.Download(model.Gradients, values);
            return values;
        }
        using var cpu = new CpuKernels();
        using var gpu = CudaParity.EmulatedGpu(reverse: false);
        var expected = Gradient(cpu, DType.F32, out _);
        var actual = Gradient(gpu, DType.BF16, out double ln2);
        Assert.Equal(Math.Log(2), ln2, 1e-3);
        double difference = Math.Sqrt(expected.Zip(actual, (e, a) => (double)(a - e) * (a - e)).Sum());
        double norm = Math.Sqrt(expected.Sum(e => (double)e * e));
        Assert.True(norm > 0 && difference < 0.1 * norm, $"bf16 DPO gradient is {difference / norm:P1} of the fp32 gradient's norm away from it");
    }

    [Theory]
    [InlineData(DpoLossKind.Sigmoid, 0.0, false)]
    [InlineData(DpoLossKind.Sigmoid, 0.1, true)]
    [InlineData(DpoLossKind.Ipo, 0.0, false)]
    [InlineData(DpoLossKind.Robust, 0.2, false)]
    public void GradientThroughTheWholeModelMatchesFiniteDifferences(DpoLossKind kind, double smoothing, bool normalize)
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var pairs = RandomPairs(config.VocabSize, 3, seed: 5);
        var reference = ReferenceLogProbs.Compute(model, pairs, "test", 4096);
        // A policy away from the reference, so h ≠ 0 and every loss is off its symmetric point.
        model.InitializeRandom(8, 0.3);
        var options = new DpoOptions { Loss = kind, LabelSmoothing = smoothing, LengthNormalize = normalize, HeldOutFraction = 0, Beta = 0.5 };
        using var trainer = Training(model, pairs, options, reference);
        var all = trainer.TrainExamples;

        model.ZeroGradients();
        double loss = trainer.AccumulateGradients([all]).Loss;
        var analytic = TinyModels.Download(kernels, model.Gradients);
        Assert.Equal(loss, trainer.Evaluate(all).Loss, 1e-12);

        TinyModels.AssertGradientMatchesFiniteDifferences(model, analytic, () => trainer.Evaluate(all).Loss);
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void MicroBatchesGiveTheGradientOfOneBatch()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var pairs = RandomPairs(config.VocabSize, 5, seed: 2);
        var reference = ReferenceLogProbs.Compute(model, pairs, "test", 4096);
        model.InitializeRandom(9, 0.3);
        using var trainer = Training(model, pairs, reference: reference);

        model.ZeroGradients();
        var whole = trainer.AccumulateGradients([At(trainer, 0, 1, 2, 3, 4)]);
        var gradWhole = TinyModels.Download(kernels, model.Gradients);
        model.ZeroGradients();
        var split = trainer.AccumulateGradients([At(trainer, 0, 1), At(trainer, 2), At(trainer, 3, 4)]);
        var gradSplit = TinyModels.Download(kernels, model.Gradients);

        Assert.Equal(whole.Loss, split.Loss, 1e-12);
        Assert.Equal(whole.RewardsMargins, split.RewardsMargins, 1e-12);
        Assert.Contains(gradWhole, g => Math.Abs(g) > 1e-6);
        for (int i = 0; i < gradWhole.Length; i++) Assert.Equal(gradWhole[i], gradSplit[i], 1e-12);
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void ReadingLogProbsBetweenForwardAndBackwardLeavesTheGradientAlone()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var batch = TokenBatch.Pack(TinyModels.Sequences(config.VocabSize, 4, 6, 9));
        var targets = batch.Tokens.Skip(1).Append(-1).ToArray();
        var weights = targets.Select((t, i) => t < 0 ? 0.0 : 0.1 * (i % 5) - 0.2).ToArray();

        model.ZeroGradients();
        model.Forward(batch, training: true);
        var logpBackward = new double[batch.Count];
        model.Backward(targets, weights, logpBackward);
        var direct = TinyModels.Download(kernels, model.Gradients);

        model.ZeroGradients();
        model.Forward(batch, training: true);
        var logp = new double[batch.Count];
        model.TokenLogProbs(targets, logp);
        model.Backward(targets, weights, new double[batch.Count]);
        var interleaved = TinyModels.Download(kernels, model.Gradients);

        Assert.Equal(direct, interleaved);
        // Not bit equality: Backward computes the head over the rows with a weight, TokenLogProbs over
        // every row with a target, so the logits GEMM runs with another M, and a BLAS may then sum a
        // row's c products in another order (OpenBLAS on Zen, MKL did). Each logit may move by
        // 2·c·u·Σ|x·w| (u = 2⁻⁵³, c = 16, Σ|x·w| of order 1 here) and logp = z_t − lse(z) by twice
        // that: about 1e-14. A wrong row or chunk moves logp by far more than the 1e-12 allowed.
        for (int i = 0; i < logp.Length; i++)
            if (weights[i] != 0) Assert.Equal(logpBackward[i], logp[i], 1e-12 * Math.Max(1, Math.Abs(logp[i])));
    }

    [Fact]
    public void ToyPreferencesRaiseMarginsAndAccuracy()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.1);
        // The chosen answer counts up, the rejected one down, from one of three starts: a preference
        // that holds across prompts, so the held-out pairs (new prompts, seen answers) improve too.
        var random = new Random(3);
        var pairs = Enumerable.Range(0, 12).Select(i =>
        {
            int start = 3 + i % 3;
            int[] prompt = [1, .. Enumerable.Range(0, 3).Select(_ => random.Next(3, config.VocabSize))];
            return new PreferencePair(prompt, [start, start + 1, start + 2, 2], [start + 2, start + 1, start, 2]);
        }).ToArray();
        var options = new DpoOptions { Beta = 0.1, LearningRate = 3e-3, MinLearningRate = 3e-4, Epochs = 30, PairsPerStep = 16, HeldOutFraction = 0.2 };
        using var trainer = Training(model, pairs, options, seed: 1);
        Assert.Equal(3, trainer.HeldOutExamples.Count);
        var before = trainer.Evaluate(trainer.HeldOutExamples);

        using var dir = new ScratchFolder();
        var train = new List<DpoMetrics>();
        trainer.Stepped += report => train.Add(report.Metrics);
        TrainingSummary<DpoMetrics> summary;
        using (var metrics = MetricsLog.Open(dir.File("metrics.jsonl")))
            summary = trainer.Run(new TrainingOutput { Metrics = metrics, MetricsPrefix = "dpo/" });

        Assert.Equal(30, train.Count);
        Assert.Equal(30, summary.Steps);
        var lines = File.ReadAllLines(dir.File("metrics.jsonl"));
        Assert.Equal(31, lines.Length);
        using (var first = JsonDocument.Parse(lines[0]))
            Assert.All(new[] { "loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "grad_norm", "learning_rate", "epoch", "tokens", "tokens_per_s" },
                name => Assert.True(first.RootElement.TryGetProperty("dpo/" + name, out _), name));
        Assert.Equal(0, train[0].RewardsMargins, 1e-6);
        Assert.True(train[^1].RewardsMargins > 0.5, $"final train margin {train[^1].RewardsMargins}");
        Assert.Equal(1.0, train[^1].RewardsAccuracies);
        Assert.True(train[^1].Loss < 0.5 * Math.Log(2), $"final train loss {train[^1].Loss}");
        var heldOut = summary.HeldOut!;
        Assert.True(heldOut.RewardsMargins > before.RewardsMargins + 0.1, $"held-out margin {before.RewardsMargins} -> {heldOut.RewardsMargins}");
        Assert.Equal(1.0, heldOut.RewardsAccuracies);
        using var last = JsonDocument.Parse(lines[^1]);
        Assert.Equal(heldOut.RewardsMargins, last.RootElement.GetProperty("dpo/eval_rewards/margins").GetDouble(), 1e-12);
    }

    [Fact]
    public void ReferenceArtifactIsReusedOnlyWhenItsKeysMatch()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        using var dir = new ScratchFolder();
        File.WriteAllText(dir.File("tokenizer.json"), "{\"a\": 1}");
        string[] tokenizer = [dir.File("tokenizer.json")];
        string path = dir.File("reference_logps.jsonl");
        var pairs = RandomPairs(config.VocabSize, 4, seed: 6);

        var first = ReferenceLogProbs.LoadOrCompute(path, model, pairs, tokenizer, 16);
        Assert.False(first.FromFile);
        Assert.True(File.Exists(path));
        var again = ReferenceLogProbs.LoadOrCompute(path, model, pairs, tokenizer, 4096);
        Assert.True(again.FromFile);
        Assert.Equal(first.Chosen, again.Chosen);
        Assert.Equal(first.Rejected, again.Rejected);
        Assert.Equal(first.ModelKey, again.ModelKey);

        // Other pairs, another tokenizer, other weights: each is a miss that recomputes and rewrites.
        var otherPairs = RandomPairs(config.VocabSize, 4, seed: 7);
        Assert.False(ReferenceLogProbs.LoadOrCompute(path, model, otherPairs, tokenizer, 4096).FromFile);
        Assert.True(ReferenceLogProbs.LoadOrCompute(path, model, otherPairs, tokenizer, 4096).FromFile);
        File.WriteAllText(dir.File("tokenizer.json"), "{\"a\": 2}");
        Assert.False(ReferenceLogProbs.LoadOrCompute(path, model, otherPairs, tokenizer, 4096).FromFile);
        var p = model.Parameters.Slice(model.Layout["model.norm.weight"].Offset, 1);
        kernels.Upload(p, [1.5]);
        var changed = ReferenceLogProbs.LoadOrCompute(path, model, pairs, tokenizer, 4096);
        Assert.False(changed.FromFile);
        Assert.NotEqual(first.ModelKey, changed.ModelKey);
        Assert.NotEqual(first.Chosen, changed.Chosen);
        Assert.True(ReferenceLogProbs.LoadOrCompute(path, model, pairs, tokenizer, 4096).FromFile);

        // A file whose keys match but whose body is damaged is an error naming the line, not a silent recompute.
        var lines = File.ReadAllLines(path);
        lines[2] = lines[2].Replace("chosen_logp", "chosen_lgp");
        File.WriteAllLines(path, lines);
        var error = Assert.Throws<InvalidDataException>(() => ReferenceLogProbs.LoadOrCompute(path, model, pairs, tokenizer, 4096));
        Assert.Contains(":3:", error.Message);
    }

    [Fact]
    public void TheReferenceMustBelongToThePairs()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F64);
        var pairs = RandomPairs(config.VocabSize, 4, seed: 6);
        var reference = ReferenceLogProbs.Compute(model, RandomPairs(config.VocabSize, 4, seed: 8), "test", 4096);
        Assert.Throws<ArgumentException>(() => reference.Examples(pairs));
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void ResumedRunEndsWithTheWeightsOfAnUninterruptedOne()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        var pairs = RandomPairs(config.VocabSize, 10, seed: 4);
        var options = new DpoOptions { LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = 2, Epochs = 3, PairsPerStep = 3, HeldOutFraction = 0.1, CheckpointEvery = 2, EvalEvery = 3 };
        using var dir = new ScratchFolder();

        double[] Train(string? checkpoint, int stopAfter)
        {
            using var model = TinyModels.Create(kernels, config, DType.F32);
            using var trainer = Training(model, pairs, options, ReferenceLogProbs.Compute(model, pairs, "test", 64), seed: 5);
            using var cancel = new CancellationTokenSource();
            trainer.Stepped += r => { if (r.Step == stopAfter) cancel.Cancel(); };
            try
            {
                trainer.Run(new TrainingOutput { CheckpointPath = checkpoint }, cancel.Token);
            }
            catch (OperationCanceledException) { }
            return TinyModels.Download(kernels, model.Parameters);
        }

        var uninterrupted = Train(null, -1);
        string path = dir.File("state.safetensors");
        var killed = Train(path, 5);
        Assert.NotEqual(uninterrupted, killed);
        Assert.Equal(uninterrupted, Train(path, -1));
    }

    [Fact]
    public void PairsRenderThroughTheChatTemplate()
    {
        using var dir = new ScratchFolder();
        Text.TokenizerFixture.WriteTokenizerJson(dir, Text.TokenizerFixture.ChatMlSpecials, null, "<|endoftext|>");
        var template = ChatTemplate.Create(TextTokenizer.Load(dir.Path), "chatml");
        var pair = PreferencePair.Render(template, "hello", "world", "hello");
        var chosen = template.Render("hello", "world");
        Assert.Equal(chosen.Ids, pair.ChosenSequence);
        Assert.Equal(template.Render("hello", "hello").Ids, pair.RejectedSequence);
        Assert.Equal(template.StopIds[0], pair.ChosenIds[^1]);
    }
}
