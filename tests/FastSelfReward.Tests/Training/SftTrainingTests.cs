using FastSelfReward.Compute;
using FastSelfReward.Model;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Text;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

public sealed class SftTrainingTests
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
        // 17 examples, 3 held out: 14 to train on, four steps an epoch.
        var examples = RandomExamples(config.VocabSize, 17, seed: 1);
        var options = new SftOptions
        {
            Epochs = 2, ExamplesPerStep = 4, MicroBatchTokens = 20, BucketSteps = 2, LearningRate = 1e-3, MinLearningRate = 1e-4,
            WarmupSteps = 2, CheckpointEvery = 3, EvalEvery = 2, EvalFraction = 0.15, WeightDecay = 0.1,
        };
        using var dir = new ScratchFolder();

        (double[] Weights, double[] Moments, List<StepReport<LmMetrics>> Steps, List<long> Evaluations) Train(string? checkpoint, int stopAfter)
        {
            using var model = TinyModels.Create(kernels, config, DType.F32);
            using var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, options, seed: 3);
            Assert.Equal(3, training.HeldOutExamples.Count);
            using var cancel = new CancellationTokenSource();
            var steps = new List<StepReport<LmMetrics>>();
            var evaluations = new List<long>();
            training.Stepped += r => { steps.Add(r); if (r.Step == stopAfter) cancel.Cancel(); };
            training.Evaluated += (step, _) => evaluations.Add(step);
            try
            {
                training.Run(new TrainingOutput { CheckpointPath = checkpoint }, cancel.Token);
            }
            catch (OperationCanceledException) { }
            return (TinyModels.Download(kernels, model.Parameters), TinyModels.Download(kernels, training.Optimizer.SecondMoments), steps, evaluations);
        }

        var uninterrupted = Train(null, -1);
        Assert.Equal(8, uninterrupted.Steps.Count);
        // Steps 2, 4 and 6 evaluate, and the end (step 8).
        Assert.Equal([2L, 4, 6, 8], uninterrupted.Evaluations);

        string path = dir.File("state.safetensors");
        // Interrupted after step 5, in the second epoch (4 steps each): the state is saved at that
        // step boundary, between the cadence's saves at 3 and 6, and the rerun continues from it.
        var interrupted = Train(path, 5);
        Assert.NotEqual(uninterrupted.Weights, interrupted.Weights);
        var resumed = Train(path, -1);
        Assert.Equal([6L, 7, 8], resumed.Steps.Select(r => r.Step));
        Assert.Equal(uninterrupted.Weights, resumed.Weights);
        Assert.Equal(uninterrupted.Moments, resumed.Moments);
        Assert.Equal(uninterrupted.Steps[^1].Metrics.Loss, resumed.Steps[^1].Metrics.Loss);

        // A finished run only evaluates; another configuration refuses the checkpoint.
        var finished = Train(path, -1);
        Assert.Empty(finished.Steps);
        Assert.Equal([8L], finished.Evaluations);
        using var model = TinyModels.Create(kernels, config, DType.F32);
        using var other = TrainingRun.Create(model, new CausalLmObjective(model), examples, options with { LearningRate = 2e-3 }, seed: 3);
        Assert.Throws<InvalidDataException>(() => other.Run(new TrainingOutput { CheckpointPath = path }));
    }

    [Fact]
    public void LossCountsOnlyTheAnswerTokens()
    {
        using var dir = new ScratchFolder();
        Text.TokenizerFixture.WriteTokenizerJson(dir, Text.TokenizerFixture.Llama3Specials, "<|begin_of_text|>", "<|end_of_text|>");
        var template = ChatTemplate.Create(TextTokenizer.Load(dir.Path), "llama3");
        var chat = template.Render("hello", "hello world");
        var example = LmExample.FromChat(chat);
        Assert.Equal(chat.AnswerIds.Count, example.LossTokens);

        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config(vocab: 120, maxPositions: 128);
        using var model = TinyModels.Create(kernels, config, DType.F64);
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), [example], new SftOptions { EvalFraction = 0 }, seed: 0);

        // The same model scoring every next token: the eval loss is the mean over the answer's positions only.
        var ids = chat.Ids;
        model.Forward(TokenBatch.Pack([ids]), training: false);
        var logp = new double[ids.Length];
        model.TokenLogProbs(ids.Skip(1).Append(-1).ToArray(), logp);
        double answerOnly = -logp.Skip(chat.PromptLength - 1).Take(chat.AnswerIds.Count).Average();
        double everyToken = -logp.Take(ids.Length - 1).Average();
        Assert.Equal(answerOnly, training.Evaluate([example]).Loss, 1e-12);
        Assert.NotEqual(everyToken, answerOnly, 1e-3);

        // The same through a train step's reported loss.
        model.ZeroGradients();
        Assert.Equal(answerOnly, training.AccumulateGradients([[example]]).Loss, 1e-12);
    }

    [Fact]
    public void EvaluationLeavesWeightsAndOptimizerUntouched()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32);
        // 10 examples, 4 held out (ceil(0.4 · 10)): two steps of three.
        var examples = RandomExamples(config.VocabSize, 10, seed: 4);
        using var training = TrainingRun.Create(model, new CausalLmObjective(model),
            examples, new SftOptions { ExamplesPerStep = 3, LearningRate = 1e-3, EvalFraction = 0.4 }, seed: 0);
        Assert.Equal(4, training.HeldOutExamples.Count);
        training.Run();
        var weights = TinyModels.Download(kernels, model.Parameters);
        var moments = TinyModels.Download(kernels, training.Optimizer.FirstMoments);
        long step = training.Optimizer.Step;

        double first = training.Evaluate(training.HeldOutExamples).Loss;
        double second = training.Evaluate(training.HeldOutExamples).Loss;

        Assert.True(double.IsFinite(first) && first > 0);
        Assert.Equal(first, second);
        Assert.Equal(weights, TinyModels.Download(kernels, model.Parameters));
        Assert.Equal(moments, TinyModels.Download(kernels, training.Optimizer.FirstMoments));
        Assert.Equal(step, training.Optimizer.Step);
    }

    [Fact]
    public void LengthBucketingIsDeterministicAndGroupsSimilarLengths()
    {
        var examples = Enumerable.Range(1, 40).Select(n => new LmExample(new int[n])).ToArray();
        var options = new SftOptions { ExamplesPerStep = 4, MicroBatchTokens = 50, BucketSteps = 10 };
        List<List<LmExample[]>> PlanEpoch(SftOptions o, int seed, int epoch) =>
            StepPlan.Epoch(examples, e => e.Tokens.Length, o.Shape, seed, epoch);
        string Lengths(List<List<LmExample[]>> steps) => string.Join(";", steps.Select(s => string.Join(",", s.SelectMany(m => m).Select(e => e.Tokens.Length))));

        var a = PlanEpoch(options, 7, 0);
        Assert.Equal(Lengths(a), Lengths(PlanEpoch(options, 7, 0)));
        Assert.NotEqual(Lengths(a), Lengths(PlanEpoch(options, 7, 1)));
        Assert.NotEqual(Lengths(a), Lengths(PlanEpoch(options, 8, 0)));
        Assert.Equal(Enumerable.Range(1, 40), a.SelectMany(s => s.SelectMany(m => m)).Select(e => e.Tokens.Length).Order());
        Assert.All(a, s => Assert.Equal(4, s.Sum(m => m.Length)));
        Assert.All(a.SelectMany(s => s), m => Assert.True(m.Length == 1 || m.Sum(e => e.Tokens.Length) <= 50));
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
        var error = Assert.Throws<ArgumentException>(() =>
            TrainingRun.Create(model, new CausalLmObjective(model), [new LmExample(new int[4]), new LmExample(new int[9])], new SftOptions(), seed: 0));
        Assert.Contains("example 1 has 9 tokens", error.Message);
    }
}
