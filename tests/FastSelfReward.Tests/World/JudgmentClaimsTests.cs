using FastSelfReward.World;

namespace FastSelfReward.Tests.World;

public sealed class JudgmentClaimsTests
{
    [Fact]
    public void Every_oracle_justification_reads_back_as_the_criteria_its_score_says_held()
    {
        var random = new Random(5);
        for (int i = 0; i < 300; i++)
        {
            WorldTask task = InstructionWorld.Sample(random);
            foreach (ResponseQuality quality in Enum.GetValues<ResponseQuality>())
            {
                OracleGrade grade = Oracle.Grade(task, ResponseWriter.Write(task, quality, random));
                var claims = JudgmentClaims.Read(grade.Justification);
                int score = grade.Score;
                // Criterion k is stated when the score reached it (k <= score + 1), and holds when k <= score.
                bool? Stated(int criterion) => criterion <= score + 1 ? criterion <= score : null;
                Assert.Equal(Stated(1), claims.AboutTask);
                Assert.Equal(Stated(2), claims.GivesForm);
                Assert.Equal(score >= 2 ? task.Answer : null, claims.RightAnswer);
                Assert.Equal(Stated(3), claims.AnswerIsRight);
                Assert.Equal(Stated(4), claims.FullSentence);
                Assert.Equal(Stated(5), claims.NothingExtra);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("Score: 4")]
    [InlineData("it is on topic and it gives nothing")]
    [InlineData("The right answer is")]
    public void Text_that_states_no_criterion_claims_nothing(string text) =>
        Assert.Equal(new JudgmentClaims(null, null, null, null, null, null), JudgmentClaims.Read(text));

    [Fact]
    public void The_first_statement_of_a_criterion_counts_and_answers_keep_their_spaces_and_commas()
    {
        var claims = JudgmentClaims.Read("The response is not about the task. The response is about the task. It gives a list of 3 numbers. " +
                                         "The right answer is 3, 5, 9. The response's answer 9, 5, 3 is wrong. It has extra text. It has nothing extra.\nScore: 2");
        Assert.Equal(new JudgmentClaims(false, true, "3, 5, 9", false, null, false), claims);
        Assert.Equal("cat cat", JudgmentClaims.Read("The right answer is cat cat.").RightAnswer);
    }
}
