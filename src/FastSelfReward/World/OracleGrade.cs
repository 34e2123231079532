namespace FastSelfReward.World;

/// <summary>The oracle's verdict on one response.</summary>
/// <param name="Score">0 to 5: how many of the rubric's criteria hold, counted in order (see <see cref="Oracle"/>).</param>
/// <param name="Justification">One short sentence per criterion checked, ending with the first that failed.</param>
/// <param name="StatedAnswer">The answer the response gives, normalised, or null when it gives none of the right form.</param>
public sealed record OracleGrade(int Score, string Justification, string? StatedAnswer)
{
    /// <summary>True when the response's answer is exactly right (criterion 3 and everything before it holds).</summary>
    public bool Correct => Score >= 3;
}
