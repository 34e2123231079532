using FastSelfReward.World;

namespace FastSelfReward.Tests.World;

public class OracleTests
{
    public static TheoryData<TaskFamily> AllFamilies() => new(Enum.GetValues<TaskFamily>());

    [Theory]
    [MemberData(nameof(AllFamilies))]
    public void Perfect_scores_5_garbage_0_and_each_quality_level_its_score_in_every_family(TaskFamily family)
    {
        var random = new Random(7);
        for (int i = 0; i < 40; i++)
        {
            WorldTask task = InstructionWorld.Sample(random, family);
            Assert.Equal(5, Oracle.Grade(task, InstructionWorld.ReferenceResponse(task)).Score);
            Assert.Equal(0, Oracle.Grade(task, "qz vlorp xx").Score);
            Assert.Equal(0, Oracle.Grade(task, "").Score);
            foreach (ResponseQuality quality in Enum.GetValues<ResponseQuality>())
            {
                string response = ResponseWriter.Write(task, quality, random);
                OracleGrade grade = Oracle.Grade(task, response);
                Assert.True((int)quality == grade.Score, $"{task}: '{response}' scored {grade.Score}, expected {quality}: {grade.Justification}");
            }
        }
    }

    [Theory]
    [InlineData("Reverse the word cat.", "The word cat backwards is tac.", 5)]
    [InlineData("Reverse the word cat.", "Reversed, cat is tac.", 5)]
    [InlineData("Reverse the word cat.", "The word cat backwards is tac. I hope this helps.", 4)] // 5: extraneous
    [InlineData("Reverse the word cat.", "Sure thing! The word cat backwards is tac.", 4)]
    [InlineData("Reverse the word cat.", "The word cat backwards is tac.\nThe word cat backwards is tac.", 4)]
    [InlineData("Reverse the word cat.", "tac", 3)] // 4: bare answer
    [InlineData("Reverse the word cat.", "The answer is tac.", 3)] // 4: does not name the subject
    [InlineData("Reverse the word cat.", "the word cat backwards is tac", 3)] // 4: no capital, no period
    [InlineData("Reverse the word cat.", "The word cat backwards is act.", 2)] // 3: wrong
    [InlineData("Reverse the word cat.", "The word cat backwards is cat.", 2)]
    [InlineData("Reverse the word cat.", "The word cat backwards is t a c.", 1)] // 2: not a 3-letter word
    [InlineData("Reverse the word cat.", "I like the word cat.", 2)] // ends with a 3-letter word: well-formed, wrong
    [InlineData("Reverse the word cat.", "4 plus 5 is 9.", 0)] // 1: not about the task
    [InlineData("Reverse the word cat.", "xq zzv blorp", 0)]
    [InlineData("Reverse the word cat.", "", 0)]
    [InlineData("What is 4 plus 5?", "4 plus 5 is 9.", 5)]
    [InlineData("What is 4 plus 5?", "9", 3)]
    [InlineData("What is 4 plus 5?", "4 plus 5 is 10.", 2)]
    [InlineData("What is 4 plus 5?", "4 plus 5 is a big number.", 1)]
    [InlineData("What is 4 plus 5?", "The word cat backwards is tac.", 0)]
    [InlineData("Subtract 5 from 12.", "12 minus 5 is 7.", 5)]
    [InlineData("Subtract 5 from 12.", "12 minus 5 is 17.", 2)]
    [InlineData("Sort these numbers from smallest to largest: 9, 3, 5.", "Sorted, 9, 3, 5 becomes 3, 5, 9.", 5)]
    [InlineData("Sort these numbers from smallest to largest: 9, 3, 5.", "In order, 9, 3, 5 becomes 3, 5 and 9.", 5)]
    [InlineData("Sort these numbers from smallest to largest: 9, 3, 5.", "3, 5, 9", 3)]
    [InlineData("Sort these numbers from smallest to largest: 9, 3, 5.", "Sorted, 9, 3, 5 becomes 9, 5, 3.", 2)]
    [InlineData("Sort these numbers from smallest to largest: 9, 3, 5.", "Sorted, 9, 3, 5 becomes 3, 5.", 1)]
    [InlineData("What is the first letter of dog?", "The first letter of dog is d.", 5)]
    [InlineData("What is the first letter of dog?", "The first letter of dog is D.", 5)]
    [InlineData("What is the first letter of dog?", "The first letter of dog is g.", 2)]
    [InlineData("What is the first letter of dog?", "The first letter of dog is dog.", 1)]
    [InlineData("Write dog in capital letters.", "The word dog in capital letters is DOG.", 5)]
    [InlineData("Write dog in capital letters.", "The word dog in capital letters is DGO.", 2)]
    [InlineData("Write dog in capital letters.", "The word dog in capital letters is dog.", 1)]
    [InlineData("Repeat the word dog 3 times.", "Here is dog 3 times: dog dog dog.", 5)]
    [InlineData("Repeat the word dog 3 times.", "Here is dog 3 times: dog dog.", 2)]
    [InlineData("Repeat the word dog 3 times.", "Here is dog 3 times: dogdogdog.", 1)]
    [InlineData("How many vowels are in apple?", "The number of vowels in apple is 2.", 5)]
    [InlineData("How many vowels are in apple?", "The number of vowels in apple is 3.", 2)]
    [InlineData("Which is the largest of 4, 17, 9?", "The largest of 4, 17, 9 is 17.", 5)]
    [InlineData("Which is the largest of 4, 17, 9?", "The biggest number is 17.", 3)]
    public void Rubric_examples(string prompt, string response, int expected)
    {
        Assert.True(InstructionWorld.TryParse(prompt, out WorldTask? task), prompt);
        OracleGrade grade = Oracle.Grade(task, response);
        Assert.True(expected == grade.Score, $"'{response}' scored {grade.Score}, expected {expected}: {grade.Justification}");
    }

    [Fact]
    public void Justification_lists_each_criterion_checked_and_the_first_failure()
    {
        Assert.True(InstructionWorld.TryParse("Reverse the word cat.", out WorldTask? task));
        OracleGrade grade = Oracle.Grade(task, "The word cat backwards is act.");
        Assert.Equal("The response is about the task. It gives a word of 3 letters. The right answer is tac. The response's answer act is wrong.", grade.Justification);
        Assert.Equal("act", grade.StatedAnswer);
        Assert.False(grade.Correct);
        Assert.True(Oracle.Grade(task, "tac").Correct);
    }
}
