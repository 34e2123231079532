using FastSelfReward.Demo;
using FastSelfReward.Generation;

namespace FastSelfReward.Tests.Demo;

public sealed class SeedPoolingTests
{
    private static ModelEvaluation Model(string name, int[] scores, double?[] judge) =>
        new(name, Answers(scores), Answers(scores), [judge]);

    private static List<EvaluatedAnswer> Answers(int[] scores) =>
        scores.Select((s, i) => new EvaluatedAnswer($"p{i}", $"prompt {i}", "answer", FinishReason.Stop, s, s >= 3)).ToList();

    [Fact]
    public void Seeds_pool_per_prompt_and_per_ranked_set()
    {
        // Seed 1: m1 against SFT per prompt 0, +1, -1; seed 2: +1, 0, +1. Per prompt over seeds: 1/2, 1/2, 0.
        var seeds = new List<SeedRun>
        {
            new(1, "unused", [Model("sft", [5, 2, 3], [null, null, null]), Model("m1", [5, 5, 2], [3, 2, 1])]),
            new(2, "unused", [Model("sft", [2, 2, 2], [null, null, null]), Model("m1", [5, 2, 5], [1, 2, 3])]),
        };
        IReadOnlyList<IReadOnlyList<int>> ranks = [[0, 1, 2]];

        var pooled = SeedPooling.Models(seeds, ranks);

        var m1 = pooled[1];
        Assert.Equal((3, 2, 1), (m1.VsSft.Wins, m1.VsSft.Ties, m1.VsSft.Losses));
        Assert.Equal(1.0 / 3, m1.VsSft.Margin, 12);
        Assert.Equal(2, m1.VsSft.MarginPerSeed.Count);
        Assert.Equal(0, m1.VsSft.MarginPerSeed[0], 12);
        Assert.Equal(2.0 / 3, m1.VsSft.MarginPerSeed[1], 12);
        Assert.InRange(1.0 / 3, m1.VsSft.MarginInterval.Low, m1.VsSft.MarginInterval.High);
        // The judge orders all three pairs right in seed 1 and none in seed 2.
        Assert.Equal(0.5, m1.JudgeAccuracy, 12);
        Assert.Equal([1.0, 0.0], m1.JudgeAccuracyPerSeed);
        Assert.True(double.IsNaN(pooled[0].JudgeAccuracy));
        Assert.Equal(6, pooled[0].VsSft.Ties);
    }

    [Fact]
    public void Judge_accuracy_is_counted_per_kind_of_pair_over_seeds()
    {
        // One set of three responses the oracle scores 5, 2 and 3: pairs 5>2, 5>3 and 3>2.
        IReadOnlyList<IReadOnlyList<int>> oracle = [[5, 2, 3]];
        var seeds = new List<SeedRun>
        {
            // m1 orders 5>2 and 5>3 right, puts 2 above 3; m2 ties 5 and 3, leaves the 2 unscored.
            new(1, "unused", [Model("sft", [5], [null, null, null]), Model("m1", [5], [5, 4, 1]), Model("m2", [5], [4, null, 4])]),
            // m1 gets every pair right; m2 only 3>2.
            new(2, "unused", [Model("sft", [5], [null, null, null]), Model("m1", [5], [5, 1, 3]), Model("m2", [5], [1, 2, 3])]),
        };

        var kinds = SeedPooling.JudgeByPairKind(seeds, oracle);

        // By the criterion the worse one fails (2: wrong answer before 3: no full sentence), better first.
        Assert.Equal([(5, 2), (3, 2), (5, 3)], kinds.Select(k => (k.Better, k.Worse)));
        Assert.All(kinds, k => Assert.Equal(["m1", "m2"], k.Models));
        var wrong = kinds[0];
        Assert.Equal([2, 1], wrong.Pairs);
        Assert.Equal([2, 0], wrong.Correct);
        Assert.Equal([1, 1], kinds[1].Correct);
        Assert.Equal([2, 2], kinds[2].Pairs);
        Assert.Equal([2, 0], kinds[2].Correct);
        Assert.Equal(0.5, kinds[1].Accuracy[0], 12);
    }

    [Fact]
    public void Judge_scores_that_do_not_match_the_sets_are_refused()
    {
        var seeds = new List<SeedRun> { new(1, "unused", [Model("sft", [5], [null, null]), Model("m1", [5], [5, 1])]) };
        Assert.Throws<ArgumentException>(() => SeedPooling.JudgeByPairKind(seeds, [[5, 2, 3]]));
    }

    [Fact]
    public void Seeds_that_evaluated_different_models_are_refused()
    {
        var seeds = new List<SeedRun>
        {
            new(1, "unused", [Model("sft", [5], [null]), Model("m1", [5], [1])]),
            new(2, "unused", [Model("sft", [5], [null]), Model("m2", [5], [1])]),
        };
        Assert.Throws<ArgumentException>(() => SeedPooling.Models(seeds, [[0]]));
    }
}
