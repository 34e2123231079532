using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class SftTrainerTests
{
    /// <summary>Examples of a random prompt (masked out) then a random answer, of varied lengths.</summary>
    private static LmExample[] RandomExamples(int vocab, int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int prompt = random.Next(1, 6), answer = random.Next(1, 8);
            var tokens = Enumerable.Range(0, prompt + answer).Select(_ => random.Next(vocab)).ToArray();
            return new LmExample(tokens, tokens.Select((_, i) => i >= prompt).ToArray());
        }).ToArray();
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void ResumedRunEndsWithTheWeightsOfAnUninterruptedOne()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        var train = RandomExamples(config.VocabSize, 14, seed: 1);
        var eval = RandomExamples(config.VocabSize, 3, seed: 2);
        var options = new SftOptions
        {
            Epochs = 2, ExamplesPerStep = 4, MicroBatchTokens = 20, BucketSteps = 2, LearningRate = 1e-3, MinLearningRate = 1e-4,
            WarmupSteps = 2, CheckpointEvery = 3, EvalEvery = 2, Seed = 3, AdamW = new AdamWOptions { WeightDecay = 0.1 },
        };
        using var dir = new ScratchFolder();

        (double[] Weights, double[] Moments, List<MetricsRecord> Log) Train(string? checkpoint, int stopAfter)
        {
            using var model = TinyModels.Create(kernels, config, DType.F32);
            using var trainer = new SftTrainer(model, options, train, eval);
            using var cancel = new CancellationTokenSource();
            var log = new List<MetricsRecord>();
            try
            {
                trainer.Run(checkpoint, r => { log.Add(r); if (r.Phase == "train" && r.Step == stopAfter) cancel.Cancel(); }, cancel.Token);
            }
            catch (OperationCanceledException) { }
            return (TinyModels.Download(kernels, model.Parameters), TinyModels.Download(kernels, trainer.Optimizer.SecondMoments), log);
        }

        var uninterrupted = Train(null, -1);
        Assert.Equal(8, uninterrupted.Log.Count(r => r.Phase == "train"));
        // Steps 2, 4 and 6 evaluate, and the end (step 8).
        Assert.Equal([2L, 4, 6, 8], uninterrupted.Log.Where(r => r.Phase == "eval").Select(r => r.Step));

        string path = dir.File("state.safetensors");
        // Killed after step 5: the last checkpoint is step 3, inside the first epoch's 4 steps.
        var killed = Train(path, 5);
        Assert.NotEqual(uninterrupted.Weights, killed.Weights);
        var resumed = Train(path, -1);
        Assert.Equal([4L, 5, 6, 7, 8], resumed.Log.Where(r => r.Phase == "train").Select(r => r.Step));
        Assert.Equal(uninterrupted.Weights, resumed.Weights);
        Assert.Equal(uninterrupted.Moments, resumed.Moments);
        var lastLoss = uninterrupted.Log.Last(r => r.Phase == "train").Values["loss"];
        Assert.Equal(lastLoss, resumed.Log.Last(r => r.Phase == "train").Values["loss"]);

        // A finished run only evaluates; another configuration refuses the checkpoint.
        Assert.DoesNotContain(Train(path, -1).Log, r => r.Phase == "train");
        using var model = TinyModels.Create(kernels, config, DType.F32);
        using var other = new SftTrainer(model, options with { LearningRate = 2e-3 }, train, eval);
        Assert.Throws<InvalidDataException>(() => other.Run(path));
    }

    [Fact]
    public void LossCountsOnlyTheAnswerTokens()
    {
        using var dir = new ScratchFolder();
        Text.TokenizerFixture.WriteTokenizerJson(dir, Text.TokenizerFixture.Llama3Specials, "<|begin_of_text|>", "<|end_of_text|>");
        var template = ChatTemplate.Create(TextTokenizer.Load(dir.Path), "llama3");
        var chat = template.Render("hello", "hello world");
        var example = SftTrainer.Example(chat);
        Assert.Equal(chat.AnswerIds.Count, example.LossTokens);

        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config(vocab: 120, maxPositions: 128);
        using var model = TinyModels.Create(kernels, config, DType.F64);
        using var trainer = new SftTrainer(model, new SftOptions(), [example], [example]);

        // The same model scoring every next token: the eval loss is the mean over the answer's positions only.
        var ids = chat.Ids;
        model.Forward(TokenBatch.Pack([ids]), training: false);
        var logp = new double[ids.Length];
        model.TokenLogProbs(ids.Skip(1).Append(-1).ToArray(), logp);
        double answerOnly = -logp.Skip(chat.PromptLength - 1).Take(chat.AnswerIds.Count).Average();
        double everyToken = -logp.Take(ids.Length - 1).Average();
        Assert.Equal(answerOnly, trainer.EvaluateLoss(), 1e-12);
        Assert.NotEqual(everyToken, answerOnly, 1e-3);

        // The same through a train step's reported loss.
        model.ZeroGradients();
        var optimizer = trainer.Optimizer;
        Assert.Equal(answerOnly, new CausalLmTrainer(model, optimizer, trainer.Schedule).AccumulateGradients([[example]]), 1e-12);
    }

    [Fact]
    public void EvaluationLeavesWeightsAndOptimizerUntouched()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32);
        var train = RandomExamples(config.VocabSize, 6, seed: 4);
        using var trainer = new SftTrainer(model, new SftOptions { ExamplesPerStep = 3, LearningRate = 1e-3 }, train, RandomExamples(config.VocabSize, 4, seed: 5));
        trainer.Run();
        var weights = TinyModels.Download(kernels, model.Parameters);
        var moments = TinyModels.Download(kernels, trainer.Optimizer.FirstMoments);
        long step = trainer.Optimizer.Step;

        double first = trainer.EvaluateLoss();
        double second = trainer.EvaluateLoss();

        Assert.True(double.IsFinite(first) && first > 0);
        Assert.Equal(first, second);
        Assert.Equal(weights, TinyModels.Download(kernels, model.Parameters));
        Assert.Equal(moments, TinyModels.Download(kernels, trainer.Optimizer.FirstMoments));
        Assert.Equal(step, trainer.Optimizer.Step);
    }

    [Fact]
    public void LengthBucketingIsDeterministicAndGroupsSimilarLengths()
    {
        var examples = Enumerable.Range(1, 40).Select(n => new LmExample(new int[n])).ToArray();
        var options = new SftOptions { ExamplesPerStep = 4, MicroBatchTokens = 50, BucketSteps = 10, Seed = 7 };
        string Lengths(List<List<List<LmExample>>> steps) => string.Join(";", steps.Select(s => string.Join(",", s.SelectMany(m => m).Select(e => e.Tokens.Length))));

        var a = SftTrainer.PlanEpoch(examples, options, 0);
        Assert.Equal(Lengths(a), Lengths(SftTrainer.PlanEpoch(examples, options, 0)));
        Assert.NotEqual(Lengths(a), Lengths(SftTrainer.PlanEpoch(examples, options, 1)));
        Assert.NotEqual(Lengths(a), Lengths(SftTrainer.PlanEpoch(examples, options with { Seed = 8 }, 0)));
        Assert.Equal(Enumerable.Range(1, 40), a.SelectMany(s => s.SelectMany(m => m)).Select(e => e.Tokens.Length).Order());
        Assert.All(a, s => Assert.Equal(4, s.Sum(m => m.Count)));
        Assert.All(a.SelectMany(s => s), m => Assert.True(m.Count == 1 || m.Sum(e => e.Tokens.Length) <= 50));
        // One window holds the whole epoch: each step is four consecutive lengths.
        Assert.All(a, s =>
        {
            var lengths = s.SelectMany(m => m).Select(e => e.Tokens.Length).ToArray();
            Assert.Equal(3, lengths.Max() - lengths.Min());
        });
        // The steps themselves are not in length order.
        var firsts = a.Select(s => s[0][0].Tokens.Length).ToArray();
        Assert.NotEqual(firsts.Order(), firsts);
    }

    [Fact]
    public void ExamplesBeyondTheContextWindowAreRejected()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(maxPositions: 8);
        using var model = TinyModels.Create(kernels, config, DType.F32);
        var error = Assert.Throws<ArgumentException>(() => new SftTrainer(model, new SftOptions(), [new LmExample(new int[9])], []));
        Assert.Contains("train example 0 has 9 tokens", error.Message);
    }
}
