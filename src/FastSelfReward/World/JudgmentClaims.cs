using System.Text.RegularExpressions;

namespace FastSelfReward.World;

/// <summary>
/// What a justification written in the oracle's sentences says about each criterion of the rubric;
/// null where it says nothing (the oracle stops at the first criterion that fails, a model may say
/// anything). The same reader reads the oracle's justification and a judge's, so the two are
/// compared criterion by criterion.
/// </summary>
/// <param name="AboutTask">Criterion 1: "The response is (not) about the task."</param>
/// <param name="GivesForm">Criterion 2: "It gives …" / "It does not give …".</param>
/// <param name="RightAnswer">Criterion 3, worked out: the answer after "The right answer is".</param>
/// <param name="AnswerIsRight">Criterion 3, the verdict: "The response's answer … is right" / "… is wrong".</param>
/// <param name="FullSentence">Criterion 4: "It is a full sentence." / "It does not state the answer in a full sentence …".</param>
/// <param name="NothingExtra">Criterion 5: "It has nothing extra." / "It has extra text."</param>
public sealed partial record JudgmentClaims(bool? AboutTask, bool? GivesForm, string? RightAnswer, bool? AnswerIsRight, bool? FullSentence, bool? NothingExtra)
{
    /// <summary>Reads the claims of <paramref name="justification"/>; the first statement of each criterion counts.</summary>
    public static JudgmentClaims Read(string justification)
    {
        ArgumentNullException.ThrowIfNull(justification);
        bool? Claim(Regex yes, Regex no)
        {
            Match y = yes.Match(justification), n = no.Match(justification);
            return (y.Success, n.Success) switch
            {
                (true, true) => y.Index < n.Index,
                (true, false) => true,
                (false, true) => false,
                _ => null,
            };
        }
        Match right = RightAnswerPattern().Match(justification);
        return new JudgmentClaims(
            Claim(AboutPattern(), NotAboutPattern()),
            Claim(GivesPattern(), DoesNotGivePattern()),
            right.Success ? right.Groups[1].Value : null,
            Claim(VerdictRightPattern(), VerdictWrongPattern()),
            Claim(FullSentencePattern(), NotFullSentencePattern()),
            Claim(NothingExtraPattern(), ExtraTextPattern()));
    }

    [GeneratedRegex(@"\bis about the task\b")] private static partial Regex AboutPattern();
    [GeneratedRegex(@"\bis not about the task\b")] private static partial Regex NotAboutPattern();
    [GeneratedRegex(@"\bIt gives\b")] private static partial Regex GivesPattern();
    [GeneratedRegex(@"\bIt does not give\b")] private static partial Regex DoesNotGivePattern();
    [GeneratedRegex(@"\bThe right answer is (.*?)\.(?=\s|$)")] private static partial Regex RightAnswerPattern();
    [GeneratedRegex(@"\bThe response's answer .*? is right\.")] private static partial Regex VerdictRightPattern();
    [GeneratedRegex(@"\bThe response's answer .*? is wrong\.")] private static partial Regex VerdictWrongPattern();
    [GeneratedRegex(@"\bIt is a full sentence\b")] private static partial Regex FullSentencePattern();
    [GeneratedRegex(@"\bIt does not state the answer in a full sentence\b")] private static partial Regex NotFullSentencePattern();
    [GeneratedRegex(@"\bIt has nothing extra\b")] private static partial Regex NothingExtraPattern();
    [GeneratedRegex(@"\bIt has extra text\b")] private static partial Regex ExtraTextPattern();
}
