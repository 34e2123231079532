using FastSelfReward.Data;
using FastSelfReward.Demo;
using FastSelfReward.Generation;
using FastSelfReward.World;

namespace FastSelfReward.Tests.Demo;

/// <summary>
/// The mechanism's measures on a hand-made iteration whose every number is worked out below: two task
/// prompts and one that is not a task, candidates the oracle grades 5, 2, 3 and 0, judge samples that
/// agree, disagree, fail to parse or are missing, and pairs that point the right way, the wrong way
/// and nowhere the oracle can see.
/// </summary>
public sealed class IterationMeasuresTests
{
    private const string Sum = "What is 3 plus 4?", Capitals = "Write dog in capital letters.", Story = "Tell me about the sea.";
    private const string Right = "3 plus 4 is 7.", Wrong = "3 plus 4 is 8.", Bare = "7", OffTopic = "The cat sat.", Dog = "The word dog in capital letters is DOG.";

    [Fact]
    public void The_oracle_grades_the_hand_made_answers_as_the_expected_values_assume()
    {
        Assert.True(InstructionWorld.TryParse(Sum, out var sum));
        Assert.True(InstructionWorld.TryParse(Capitals, out var capitals));
        Assert.False(InstructionWorld.TryParse(Story, out _));
        Assert.Equal([5, 2, 3, 0], new[] { Right, Wrong, Bare, OffTopic }.Select(a => Oracle.Grade(sum, a).Score));
        Assert.Equal(5, Oracle.Grade(capitals, Dog).Score);
    }

    [Fact]
    public void Every_measure_of_a_hand_made_iteration()
    {
        var prompts = new[] { new PromptRecord("a", Sum, "self-instruct"), new PromptRecord("b", Story, "self-instruct"), new PromptRecord("c", Capitals, "self-instruct") };
        FinishReason[] Stops(int n) => Enumerable.Repeat(FinishReason.Stop, n).ToArray();
        var candidates = new[]
        {
            new CandidatesRecord("a", Sum, [Right, Wrong, Bare, OffTopic], Stops(4)),
            new CandidatesRecord("b", Story, ["Waves.", "Fish."], Stops(2)),
            new CandidatesRecord("c", Capitals, [Dog, Dog], Stops(2)),
        };
        JudgmentRecord Judged(string id, int candidate, params double?[] scores) =>
            new(id, candidate, scores.Select(s => new JudgeSample($"Score: {s}", s)).ToList(),
                scores.Any(s => s is not null) ? scores.Where(s => s is not null).Average() : null);
        var judgments = new[]
        {
            Judged("a", 0, 5, 5, 4),          // oracle 5: errors 0 0 1, spread 1
            Judged("a", 1, 4, null, 0),       // oracle 2: errors 2 2, spread 4
            Judged("a", 2, 1, 1, 1),          // oracle 3: errors 2 2 2, spread 0
            Judged("a", 3, null, null, null), // oracle 0: no verdict
            Judged("b", 0, 2, 2),             // not a task: not counted
            Judged("c", 0, 5),                // oracle 5: error 0, one sample (no spread)
        };
        var pairs = new[]
        {
            new PairRecord(Sum, Right, OffTopic, 5, 0),  // oracle 5 against 0: better
            new PairRecord(Sum, Wrong, Bare, 3, 2),      // oracle 2 against 3: worse
            new PairRecord(Story, "Waves.", "Fish.", 4, 1),
        };

        var m = IterationMeasures.Measure(2, "writer", prompts, candidates, judgments, pairs);

        Assert.Equal((2, "writer", "m2"), (m.Iteration, m.PromptWriter, m.Policy));
        Assert.Equal((3, 2), (m.Prompts, m.TaskPrompts));
        Assert.Equal(2.0 / 3, m.TaskShare, 12);
        Assert.Equal((3, 2, 1, 1, 0), (m.Pairs, m.GradedPairs, m.ChosenBetter, m.ChosenWorse, m.ChosenEqual));
        Assert.Equal(0.5, m.ChosenBetterShare, 12);
        Assert.Equal((4.0, 1.0), (m.JudgeChosen, m.JudgeRejected));
        Assert.Equal((3.5, 1.5), (m.OracleChosen, m.OracleRejected));
        Assert.Equal((14 + 14 + 6) / 3.0, m.LengthChosen, 12);
        Assert.Equal((12 + 1 + 5) / 3.0, m.LengthRejected, 12);

        Assert.Equal((5 + 2 + 3 + 0 + 5 + 5) / 6.0, m.SampledScore, 12);
        Assert.Equal((5 + 0) / 2.0, m.CandidateSpread, 12);
        Assert.Equal(0.5, m.SpreadPrompts, 12);

        Assert.Equal((13, 9), (m.JudgeSamples, m.ParsedSamples));
        Assert.Equal(9.0 / 13, m.ParseRate, 12);
        Assert.Equal(3.0 / 9, m.SampleAgreement, 12);
        Assert.Equal(11.0 / 9, m.SampleError, 12);
        Assert.Equal((1 + 4 + 0) / 3.0, m.SampleSpread, 12);
        Assert.Equal(1.0 / 3, m.WideSpread, 12);

        // Candidate pairs of "a" with both means and different oracle scores: (0,1) right, (0,2) right,
        // (1,2) wrong (judge 2 > 1, oracle 2 < 3); "c"'s two answers are graded alike.
        Assert.Equal(3, m.CandidatePairs);
        Assert.Equal(2.0 / 3, m.JudgeOrdersPairs, 12);
    }

    [Fact]
    public void The_judge_is_read_criterion_by_criterion_against_the_oracle()
    {
        // Oracle on Wrong: about the task, gives a number, right answer 7, the response's 8 is wrong (stops there).
        const string FooledJudge = "The response is about the task. It gives a number. The right answer is 8. The response's answer 8 is right. " +
                                   "It is a full sentence. It has nothing extra.\nScore: 5";
        const string GoodJudge = "The response is about the task. It gives a number. The right answer is 7. The response's answer 8 is wrong.\nScore: 2";
        // Oracle on OffTopic: not about the task (stops there).
        const string BlindJudge = "The response is about the task. It does not give a number.\nScore: 1";
        var m = IterationMeasures.Measure(1, "m1", [new PromptRecord("a", Sum, "self-instruct")],
            [new CandidatesRecord("a", Sum, [Wrong, OffTopic], [FinishReason.Stop, FinishReason.Stop])],
            [new JudgmentRecord("a", 0, [new JudgeSample(FooledJudge, 5), new JudgeSample(GoodJudge, 2)], 3.5),
             new JudgmentRecord("a", 1, [new JudgeSample(BlindJudge, 1), new JudgeSample("Score: 0", 0)], 0.5)], []);

        var c = m.Criteria;
        Assert.Equal(new CriterionAgreement(3, 2), c.AboutTask);
        Assert.Equal(new CriterionAgreement(2, 2), c.GivesForm);
        Assert.Equal(new CriterionAgreement(2, 1), c.RightAnswer);
        Assert.Equal(new CriterionAgreement(2, 1), c.Verdict);
        Assert.Equal(new CriterionAgreement(0, 0), c.FullSentence);
        Assert.Equal(new CriterionAgreement(0, 0), c.NothingExtra);
        Assert.True(double.IsNaN(c.NothingExtra.Rate));
        Assert.Equal(2.0 / 3, c.AboutTask.Rate, 12);
    }

    [Fact]
    public void An_iteration_without_task_prompts_measures_nothing_and_says_so_with_NaN()
    {
        var m = IterationMeasures.Measure(1, "m1", [new PromptRecord("b", Story, "self-instruct")],
            [new CandidatesRecord("b", Story, ["Waves.", "Fish."], [FinishReason.Stop, FinishReason.Stop])],
            [], [new PairRecord(Story, "Waves.", "Fish.", 4, 1)]);

        Assert.Equal((1, 0, 1, 0), (m.Prompts, m.TaskPrompts, m.Pairs, m.GradedPairs));
        Assert.Equal(0, m.TaskShare);
        Assert.True(double.IsNaN(m.ChosenBetterShare) && double.IsNaN(m.OracleChosen) && double.IsNaN(m.SampledScore)
                    && double.IsNaN(m.ParseRate) && double.IsNaN(m.SampleAgreement) && double.IsNaN(m.JudgeOrdersPairs));
    }
}
