using FastSelfReward.Data;
using FastSelfReward.World;

namespace FastSelfReward.Demo;

/// <summary>
/// How well each link of one iteration's chain held, read from its artifacts by the world's oracle
/// after the loop has finished: were the new prompts tasks, did the candidates differ, did the judge
/// see the difference, and did the pairs point the right way. Judge scores are the loop's (means of
/// the parsed samples); oracle scores are exact grades (0–5) that the loop never saw. Measures over
/// an empty set are NaN.
/// </summary>
/// <param name="Iteration">t, 1-based.</param>
/// <param name="PromptWriter">Who wrote the prompts: the policy (m1, m2, …) or the configured prompt model's folder name.</param>
/// <param name="Policy">The model that answered and judged: m1, m2, …</param>
/// <param name="Prompts">Prompts that passed the loop's filters.</param>
/// <param name="TaskPrompts">Of those, prompts that are tasks of the world (the oracle can grade their answers).</param>
/// <param name="Pairs">Preference pairs the iteration trained on.</param>
/// <param name="GradedPairs">Pairs on a task prompt; the oracle's comparisons below are over these.</param>
/// <param name="ChosenBetter">Graded pairs whose chosen answer the oracle scores higher than the rejected one.</param>
/// <param name="ChosenWorse">Graded pairs whose chosen answer the oracle scores lower.</param>
/// <param name="ChosenEqual">Graded pairs the oracle scores equal: no signal, only noise, for DPO.</param>
/// <param name="JudgeChosen">Mean judge score of the chosen answers (all pairs).</param>
/// <param name="JudgeRejected">Mean judge score of the rejected answers (all pairs).</param>
/// <param name="OracleChosen">Mean oracle score of the chosen answers (graded pairs).</param>
/// <param name="OracleRejected">Mean oracle score of the rejected answers (graded pairs).</param>
/// <param name="LengthChosen">Mean chosen answer length in characters (all pairs).</param>
/// <param name="LengthRejected">Mean rejected answer length in characters (all pairs).</param>
/// <param name="SampledScore">Mean oracle score of the policy's candidates to task prompts: the policy at the sampling temperature.</param>
/// <param name="CandidateSpread">Mean over task prompts of the highest minus the lowest oracle score of their candidates.</param>
/// <param name="SpreadPrompts">Share of task prompts whose candidates the oracle does not score all alike (a pair could teach something).</param>
/// <param name="JudgeSamples">Judge samples of candidates to task prompts.</param>
/// <param name="ParsedSamples">Of those, samples with a verdict.</param>
/// <param name="SampleAgreement">Share of parsed samples whose score equals the oracle's score of the answer.</param>
/// <param name="SampleError">Mean absolute difference between a parsed sample's score and the oracle's.</param>
/// <param name="SampleSpread">Mean over answers with two or more parsed samples of their highest minus lowest sample.</param>
/// <param name="WideSpread">Share of those answers whose samples span 3 points or more.</param>
/// <param name="CandidatePairs">Pairs of candidates to one task prompt that the oracle scores differently and the judge scored both.</param>
/// <param name="JudgeOrdersPairs">Share of those the judge's means order as the oracle does (a tie counts as wrong).</param>
/// <param name="Criteria">The judge's samples against the oracle, criterion by criterion.</param>
public sealed record IterationMeasures(
    int Iteration, string PromptWriter, string Policy,
    int Prompts, int TaskPrompts,
    int Pairs, int GradedPairs, int ChosenBetter, int ChosenWorse, int ChosenEqual,
    double JudgeChosen, double JudgeRejected, double OracleChosen, double OracleRejected, double LengthChosen, double LengthRejected,
    double SampledScore, double CandidateSpread, double SpreadPrompts,
    int JudgeSamples, int ParsedSamples, double SampleAgreement, double SampleError, double SampleSpread, double WideSpread,
    int CandidatePairs, double JudgeOrdersPairs, JudgeCriteria Criteria)
{
    /// <summary>Share of the prompts that are tasks of the world.</summary>
    public double TaskShare => Ratio(TaskPrompts, Prompts);

    /// <summary>Share of the judge samples that parsed.</summary>
    public double ParseRate => Ratio(ParsedSamples, JudgeSamples);

    /// <summary>Among graded pairs whose answers the oracle scores differently, the share whose chosen answer is the better.</summary>
    public double ChosenBetterShare => Ratio(ChosenBetter, ChosenBetter + ChosenWorse);

    /// <summary>Measures iteration <paramref name="iteration"/> from its artifacts (prompts, candidates, judgments, pairs).</summary>
    public static IterationMeasures Measure(int iteration, string promptWriter, IReadOnlyList<PromptRecord> prompts,
        IReadOnlyList<CandidatesRecord> candidates, IReadOnlyList<JudgmentRecord> judgments, IReadOnlyList<PairRecord> pairs)
    {
        var tasks = new Dictionary<string, WorldTask>(StringComparer.Ordinal);
        foreach (var prompt in prompts.Select(p => p.Prompt).Concat(candidates.Select(c => c.Prompt)).Distinct())
            if (InstructionWorld.TryParse(prompt, out WorldTask? task)) tasks[prompt] = task;

        var graded = pairs.Where(p => tasks.ContainsKey(p.Prompt))
            .Select(p => (Chosen: Oracle.Grade(tasks[p.Prompt], p.Chosen).Score, Rejected: Oracle.Grade(tasks[p.Prompt], p.Rejected).Score)).ToList();

        var judged = judgments.ToDictionary(j => (j.Id, j.Candidate));
        var sampled = new List<int>();
        var spreads = new List<int>();
        var sampleErrors = new List<double>();
        var sampleSpreads = new List<double>();
        var criteria = new CriteriaCounter();
        int judgeSamples = 0, candidatePairs = 0, ordered = 0;
        foreach (var record in candidates)
        {
            if (!tasks.TryGetValue(record.Prompt, out WorldTask? task) || record.Candidates.Count == 0) continue;
            var grades = record.Candidates.Select(c => Oracle.Grade(task, c)).ToArray();
            var scores = grades.Select(g => g.Score).ToArray();
            sampled.AddRange(scores);
            spreads.Add(scores.Max() - scores.Min());
            var means = new double?[scores.Length];
            for (int c = 0; c < scores.Length; c++)
            {
                if (!judged.TryGetValue((record.Id, c), out JudgmentRecord? judgment)) continue;
                means[c] = judgment.Mean;
                judgeSamples += judgment.Samples.Count;
                var truth = JudgmentClaims.Read(grades[c].Justification);
                foreach (var sample in judgment.Samples) criteria.Add(task, truth, JudgmentClaims.Read(sample.Text));
                var parsed = judgment.Samples.Where(s => s.Score is not null).Select(s => s.Score!.Value).ToList();
                sampleErrors.AddRange(parsed.Select(s => Math.Abs(s - scores[c])));
                if (parsed.Count >= 2) sampleSpreads.Add(parsed.Max() - parsed.Min());
            }
            for (int a = 0; a < scores.Length; a++)
                for (int b = a + 1; b < scores.Length; b++)
                {
                    if (scores[a] == scores[b] || means[a] is not double ma || means[b] is not double mb) continue;
                    candidatePairs++;
                    if (Math.Sign(ma - mb) == Math.Sign(scores[a] - scores[b])) ordered++;
                }
        }

        return new IterationMeasures(iteration, promptWriter, $"m{iteration}", prompts.Count, prompts.Count(p => tasks.ContainsKey(p.Prompt)),
            pairs.Count, graded.Count, graded.Count(g => g.Chosen > g.Rejected), graded.Count(g => g.Chosen < g.Rejected), graded.Count(g => g.Chosen == g.Rejected),
            Mean(pairs.Select(p => p.ScoreChosen)), Mean(pairs.Select(p => p.ScoreRejected)),
            Mean(graded.Select(g => (double)g.Chosen)), Mean(graded.Select(g => (double)g.Rejected)),
            Mean(pairs.Select(p => (double)p.Chosen.Length)), Mean(pairs.Select(p => (double)p.Rejected.Length)),
            Mean(sampled.Select(s => (double)s)), Mean(spreads.Select(s => (double)s)), Ratio(spreads.Count(s => s > 0), spreads.Count),
            judgeSamples, sampleErrors.Count, Ratio(sampleErrors.Count(e => e == 0), sampleErrors.Count), Mean(sampleErrors),
            Mean(sampleSpreads), Ratio(sampleSpreads.Count(s => s >= 3), sampleSpreads.Count),
            candidatePairs, Ratio(ordered, candidatePairs), criteria.Result());
    }

    private sealed class CriteriaCounter
    {
        private readonly int[] _compared = new int[6], _agreed = new int[6];

        public void Add(WorldTask task, JudgmentClaims oracle, JudgmentClaims judge)
        {
            Compare(0, oracle.AboutTask, judge.AboutTask);
            Compare(1, oracle.GivesForm, judge.GivesForm);
            // The right answer is known whatever the oracle stopped at.
            if (judge.RightAnswer is string stated) Count(2, stated == task.Answer);
            Compare(3, oracle.AnswerIsRight, judge.AnswerIsRight);
            Compare(4, oracle.FullSentence, judge.FullSentence);
            Compare(5, oracle.NothingExtra, judge.NothingExtra);
        }

        public JudgeCriteria Result()
        {
            CriterionAgreement At(int i) => new(_compared[i], _agreed[i]);
            return new JudgeCriteria(At(0), At(1), At(2), At(3), At(4), At(5));
        }

        private void Compare(int criterion, bool? oracle, bool? judge)
        {
            if (oracle is bool o && judge is bool j) Count(criterion, o == j);
        }

        private void Count(int criterion, bool agreed)
        {
            _compared[criterion]++;
            if (agreed) _agreed[criterion]++;
        }
    }

    /// <summary>Reads iteration <paramref name="iteration"/>'s artifacts from <paramref name="runFolder"/> and measures them.</summary>
    public static IterationMeasures Read(string runFolder, int iteration, string promptWriter)
    {
        string folder = Path.Combine(runFolder, $"iter{iteration}");
        List<T> Load<T>(string name) => [.. Jsonl.ReadAll<T>(Path.Combine(folder, name)).Records];
        return Measure(iteration, promptWriter, Load<PromptRecord>("prompts.jsonl"), Load<CandidatesRecord>("candidates.jsonl"),
            Load<JudgmentRecord>("judgments.jsonl"), Load<PairRecord>("pairs.jsonl"));
    }

    private static double Mean(IEnumerable<double> values)
    {
        double sum = 0;
        int count = 0;
        foreach (double v in values) { sum += v; count++; }
        return count == 0 ? double.NaN : sum / count;
    }

    internal static double Ratio(int count, int total) => total == 0 ? double.NaN : (double)count / total;
}

/// <summary>Judge samples that state a criterion where the oracle does too, and how many of them agree with it.</summary>
public sealed record CriterionAgreement(int Compared, int Agreed)
{
    /// <summary>Agreed over compared; NaN when nothing was compared.</summary>
    public double Rate => IterationMeasures.Ratio(Agreed, Compared);
}

/// <summary>
/// A judge's samples read criterion by criterion (<see cref="JudgmentClaims"/>) against the oracle's
/// justification of the same answer. <see cref="RightAnswer"/> compares the answer the judge works
/// out with the task's exact answer wherever the judge states one; the others compare only where
/// the oracle reached the criterion (it stops at the first that fails).
/// </summary>
public sealed record JudgeCriteria(CriterionAgreement AboutTask, CriterionAgreement GivesForm, CriterionAgreement RightAnswer,
    CriterionAgreement Verdict, CriterionAgreement FullSentence, CriterionAgreement NothingExtra);
