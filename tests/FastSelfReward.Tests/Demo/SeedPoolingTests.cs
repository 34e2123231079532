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
