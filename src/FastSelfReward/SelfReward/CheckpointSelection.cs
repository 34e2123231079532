using System.Text.Json;
using FastSelfReward.Data;
using FastSelfReward.Evaluation;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Training;

namespace FastSelfReward.SelfReward;

/// <summary>One candidate checkpoint against the baseline on the selection prompts.</summary>
/// <param name="Step">The training step whose weights it holds.</param>
/// <param name="Baseline">It is the baseline itself (not compared; its preference is ½ by definition).</param>
/// <param name="Wins">Prompts where the judge preferred the candidate in both orders, or in one with a tie in the other.</param>
/// <param name="Ties">Prompts with two ties, or a preference for each answer in one order each.</param>
/// <param name="Losses">Prompts where the judge preferred the baseline.</param>
/// <param name="Invalid">Prompts without a valid verdict in both orders (left out of the rates).</param>
/// <param name="WinRate">Wins over valid prompts; null when none is valid.</param>
/// <param name="TieRate">Ties over valid prompts.</param>
/// <param name="LossRate">Losses over valid prompts.</param>
/// <param name="Preference">(wins + ties / 2) / valid prompts; null when no prompt got a valid verdict.</param>
/// <param name="TruncatedAnswers">Its answers cut by <c>checkpoint_selection.sampling.max_tokens</c>.</param>
public sealed record SelectionCandidate(long Step, bool Baseline, int Wins, int Ties, int Losses, int Invalid,
    double? WinRate, double? TieRate, double? LossRate, double? Preference, int TruncatedAnswers);

/// <summary>What a training stage's checkpoint selection found; written as <c>train/MODEL/selection.json</c>.</summary>
/// <param name="Against">The baseline: <c>final</c> (the last step) or <c>initial</c> (the model the stage started from).</param>
/// <param name="Judge">The judging checkpoint folder.</param>
/// <param name="Prompts">How many prompts the candidates answered.</param>
/// <param name="PromptSource"><c>held_out</c> or the prompt file.</param>
/// <param name="ChosenStep">The step whose weights became the stage's model.</param>
/// <param name="Candidates">Every candidate, in step order.</param>
public sealed record SelectionRecord(SelectionBaseline Against, string Judge, int Prompts, string PromptSource, long ChosenStep,
    IReadOnlyList<SelectionCandidate> Candidates);

/// <summary>A selection prompt and one checkpoint's answer to it.</summary>
public sealed record SelectionAnswer(string Prompt, string Answer, FinishReason Finish);

/// <summary>One prompt of a candidate's comparison with the baseline: both answers, what the judge wrote, and the outcome for A, the candidate.</summary>
/// <param name="Prompt">The selection prompt.</param>
/// <param name="AnswerA">The candidate's answer.</param>
/// <param name="AnswerB">The baseline's answer.</param>
/// <param name="Outcome">Win when the judge preferred the candidate's answer.</param>
/// <param name="Judgments">Pairwise: the judge's output with A shown first, then with B first. Scores: A's judgments, then B's.</param>
/// <param name="ScoreA">Scores: A's mean score (null when no judgment parsed); pairwise: null.</param>
/// <param name="ScoreB">Scores: B's mean score.</param>
public sealed record SelectionVerdict(string Prompt, string AnswerA, string AnswerB, HeadToHeadOutcome Outcome, IReadOnlyList<string> Judgments,
    double? ScoreA = null, double? ScoreB = null);

/// <summary>Compares two checkpoints' answers to the same prompts, A against B, a verdict per prompt in prompt order.</summary>
public interface IAnswerComparer
{
    IReadOnlyList<SelectionVerdict> Compare(IReadOnlyList<string> prompts, IReadOnlyList<string> answersA, IReadOnlyList<string> answersB);
}

/// <summary>
/// The paper's checkpoint selection for one training stage (<see cref="SelectionConfig"/>): while
/// the stage trains, its weights are saved as a candidate every K steps and after the last, under
/// <c>train/MODEL/candidates/step-NNNNNN</c>; afterwards every candidate answers the selection
/// prompts, a pairwise judge compares each with the baseline in both orders, and the candidate with
/// the highest preference becomes <c>models/MODEL</c>. Answers and verdicts are stored per candidate
/// under <c>train/MODEL/selection/</c> as they are made, so an interrupted selection resumes where it
/// stopped, and the result goes to <c>train/MODEL/selection.json</c> before the chosen weights move.
/// </summary>
public sealed class CheckpointSelection
{
    private readonly RunContext _run;
    private readonly string _stage, _output;
    private readonly IAnswerComparer? _comparer;

    /// <param name="run">The run.</param>
    /// <param name="stage">The stage's name (sft, m1, iterT/dpo), which prefixes its log lines and metrics.</param>
    /// <param name="output">The model the stage makes (sft, m1, m2, ...).</param>
    /// <param name="every">Steps between candidates.</param>
    /// <param name="comparer">Compares answers; null: the judge of <see cref="SelectionConfig.Judge"/> or the run's own.</param>
    public CheckpointSelection(RunContext run, string stage, string output, int every, IAnswerComparer? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        (_run, _stage, _output, Every, _comparer) = (run, stage, output, every, comparer);
    }

    /// <summary>Steps between candidates.</summary>
    public int Every { get; }

    private SelectionConfig Config => _run.Config.CheckpointSelection;

    /// <summary>The result file, relative to the run folder.</summary>
    public string ResultFile => Path.Combine("train", _output, "selection.json");

    /// <summary>The folder of the candidate saved at <paramref name="step"/>, relative to the run folder.</summary>
    public string CandidateFolder(long step) => Path.Combine("train", _output, "candidates", $"step-{step:D6}");

    private string SelectionFile(string name) => _run.PathOf(Path.Combine("train", _output, "selection", name));

    /// <summary>The steps whose weights are candidates: every <see cref="Every"/>-th and the last.</summary>
    public IReadOnlyList<long> CandidateSteps(long totalSteps)
    {
        var steps = new List<long>();
        for (long step = Every; step < totalSteps; step += Every) steps.Add(step);
        steps.Add(totalSteps);
        return steps;
    }

    /// <summary>Saves <paramref name="model"/> as a candidate after every <see cref="Every"/>-th step of <paramref name="training"/> and after its last.</summary>
    /// <remarks>
    /// The save happens when the step is reported, before the step's training state is saved, so a
    /// run that resumes from a state has every candidate up to that state's step on disk.
    /// </remarks>
    public void SaveCandidatesOf<TExample, TMetrics>(TrainingRun<TExample, TMetrics> training, LlamaModel model)
        where TMetrics : class, ITrainingMetrics<TMetrics>
    {
        training.Stepped += report =>
        {
            if (report.Step % Every != 0 && report.Step != training.TotalSteps) return;
            // Every rank takes part: rank 0 saves the master weights, which ZeRO-1 may have sharded over the ranks.
            using var weights = training.Optimizer.GatherWeightsToRoot();
            _run.SaveCheckpoint(model, CandidateFolder(report.Step));
        };
    }

    /// <summary>
    /// The rule: the candidate of highest preference, the later step among equals; a baseline
    /// candidate counts ½. When no candidate has a preference (the judge never gave a valid verdict
    /// in both orders), the last step.
    /// </summary>
    public static long Choose(IReadOnlyList<SelectionCandidate> candidates)
    {
        if (candidates.Count == 0) throw new ArgumentException("no candidates", nameof(candidates));
        var scored = candidates.Where(c => c.Preference is double p && double.IsFinite(p))
            .OrderByDescending(c => c.Preference).ThenByDescending(c => c.Step).FirstOrDefault();
        return scored?.Step ?? candidates.Max(c => c.Step);
    }

    /// <summary>
    /// Chooses among the candidates of a stage that trained <paramref name="totalSteps"/> steps and
    /// makes the chosen one <c>models/MODEL</c>; returns the artifacts (the model and the result).
    /// Resumes from whatever an interrupted call left.
    /// </summary>
    /// <param name="heldOutPrompts">The user prompts of the stage's held-out examples (used unless <see cref="SelectionConfig.Prompts"/> is set).</param>
    /// <param name="initialFolder">The model the stage started from (the baseline of <see cref="SelectionBaseline.Initial"/>).</param>
    /// <param name="ownJudgeFolder">The run's own judge for this stage, or null for the last candidate.</param>
    /// <param name="totalSteps">The stage's last step.</param>
    /// <param name="cancel">Stops the selection between two checkpoints' answers or verdicts.</param>
    /// <exception cref="InvalidDataException">No selection prompts, or a candidate's weights are missing.</exception>
    public IReadOnlyList<string> Select(IReadOnlyList<string> heldOutPrompts, string initialFolder, string? ownJudgeFolder, long totalSteps,
        CancellationToken cancel)
    {
        // Answering and judging is rank 0's; the other ranks only trained.
        if (!_run.World.IsRoot) return [.. RunContext.ModelArtifacts(_output), ResultFile];
        string resultPath = _run.PathOf(ResultFile);
        var record = File.Exists(resultPath) ? JsonSerializer.Deserialize<SelectionRecord>(File.ReadAllText(resultPath), Jsonl.Options)! : null;
        if (record is null)
        {
            record = Compare(heldOutPrompts, initialFolder, ownJudgeFolder, totalSteps, cancel);
            Directory.CreateDirectory(Path.GetDirectoryName(resultPath)!);
            AtomicFile.WriteAllText(resultPath, JsonSerializer.Serialize(record, new JsonSerializerOptions(Jsonl.Options) { WriteIndented = true }));
            Report(record);
        }
        Install(record.ChosenStep);
        return [.. RunContext.ModelArtifacts(_output), ResultFile];
    }

    private SelectionRecord Compare(IReadOnlyList<string> heldOutPrompts, string initialFolder, string? ownJudgeFolder, long totalSteps,
        CancellationToken cancel)
    {
        var steps = CandidateSteps(totalSteps);
        foreach (long step in steps)
            if (!File.Exists(Path.Combine(_run.PathOf(CandidateFolder(step)), "model.safetensors")))
                throw new InvalidDataException($"{_stage}: the candidate of step {step} is missing ({_run.PathOf(CandidateFolder(step))}); " +
                                               $"redo the stage (fsr iterate --redo {_stage})");
        var (prompts, source) = Prompts(heldOutPrompts);
        string judgeFolder = Config.Judge ?? ownJudgeFolder ?? _run.PathOf(CandidateFolder(totalSteps));
        bool againstFinal = Config.Against == SelectionBaseline.Final;
        var compared = againstFinal ? steps.Take(steps.Count - 1).ToList() : [.. steps];
        var candidates = new List<SelectionCandidate>();
        if (compared.Count > 0)
        {
            var baseline = Answers(againstFinal ? $"step-{totalSteps:D6}" : "initial",
                againstFinal ? _run.PathOf(CandidateFolder(totalSteps)) : initialFolder, prompts, cancel);
            var answers = compared.ToDictionary(step => step, step => Answers($"step-{step:D6}", _run.PathOf(CandidateFolder(step)), prompts, cancel));
            IAnswerComparer? loaded = null;
            try
            {
                foreach (long step in compared)
                {
                    cancel.ThrowIfCancellationRequested();
                    var result = Verdicts(step, prompts, answers[step], baseline, () => loaded ??= _comparer ?? JudgeModel(judgeFolder));
                    candidates.Add(Scored(step, result, answers[step].Count(a => a.Finish == FinishReason.Length)));
                }
            }
            finally
            {
                if (!ReferenceEquals(loaded, _comparer)) (loaded as IDisposable)?.Dispose();
            }
        }
        if (againstFinal) candidates.Add(new SelectionCandidate(totalSteps, true, 0, 0, 0, 0, null, null, null, 0.5, 0));
        // A judge inside the run folder is named relative to it, as the run's other files are.
        string relative = Path.GetRelativePath(_run.Directory, judgeFolder);
        string judge = relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? judgeFolder : relative;
        return new SelectionRecord(Config.Against, judge, prompts.Count, source, Choose(candidates), candidates);
    }

    private (IReadOnlyList<string> Prompts, string Source) Prompts(IReadOnlyList<string> heldOut)
    {
        var (all, source) = Config.Prompts is string file ? (PromptFile.Read(file), file) : ([.. heldOut], "held_out");
        var prompts = all.Where(p => p.Trim().Length > 0).Distinct(StringComparer.Ordinal).Take(Config.MaxPrompts).ToList();
        if (prompts.Count == 0)
            throw new InvalidDataException($"{_stage}: no prompts to select a checkpoint with ({(Config.Prompts is null ? "the stage held out no user prompts" : $"{Config.Prompts} is empty")})");
        return (prompts, source);
    }

    /// <summary>One checkpoint's answers to the prompts, from its stored file when that answers the same prompts.</summary>
    private IReadOnlyList<SelectionAnswer> Answers(string name, string folder, IReadOnlyList<string> prompts, CancellationToken cancel)
    {
        string path = SelectionFile(name + ".answers.jsonl");
        if (File.Exists(path))
        {
            var stored = Jsonl.ReadAll<SelectionAnswer>(path).Records;
            if (stored.Select(a => a.Prompt).SequenceEqual(prompts, StringComparer.Ordinal)) return stored;
        }
        cancel.ThrowIfCancellationRequested();
        _run.Log.WriteLine($"{_stage}: checkpoint selection: {name} answers {prompts.Count} prompts");
        using var model = ChatModel.Load(_run.Kernels, folder, _run.Config.Template == "auto" ? null : _run.Config.Template, _run.Config.GenerationRows);
        var generated = model.Answer(prompts, Config.Sampling with { Seed = _run.SeedOf(_stage + "/selection") });
        // A prompt that leaves no room in the context gets no answer: an empty one, counted as cut.
        var answers = prompts.Select((p, i) => generated[i].Count > 0
            ? new SelectionAnswer(p, generated[i][0].Text, generated[i][0].Finish) : new SelectionAnswer(p, "", FinishReason.Length)).ToList();
        Jsonl.WriteAll(path, answers);
        return answers;
    }

    /// <summary>The comparison of one candidate's answers with the baseline's, from its stored verdicts when they are for the same answers.</summary>
    private HeadToHeadResult Verdicts(long step, IReadOnlyList<string> prompts, IReadOnlyList<SelectionAnswer> candidate,
        IReadOnlyList<SelectionAnswer> baseline, Func<IAnswerComparer> comparer)
    {
        string path = SelectionFile($"step-{step:D6}.verdicts.jsonl");
        if (File.Exists(path))
        {
            var stored = Jsonl.ReadAll<SelectionVerdict>(path).Records;
            if (stored.Count == prompts.Count && stored.Select((item, i) => item.Prompt == prompts[i] && item.AnswerA == candidate[i].Answer
                    && item.AnswerB == baseline[i].Answer).All(same => same))
                return HeadToHead.Count(stored.Select(item => item.Outcome));
        }
        _run.Log.WriteLine($"{_stage}: checkpoint selection: judging step {step}");
        var verdicts = comparer().Compare(prompts, [.. candidate.Select(a => a.Answer)], [.. baseline.Select(a => a.Answer)]);
        Jsonl.WriteAll(path, verdicts);
        return HeadToHead.Count(verdicts.Select(item => item.Outcome));
    }

    private static SelectionCandidate Scored(long step, HeadToHeadResult result, int truncated) =>
        new(step, false, result.Wins, result.Ties, result.Losses, result.Invalid, Rate(result.WinRate), Rate(result.TieRate), Rate(result.LossRate),
            result.Valid == 0 ? null : (result.Wins + 0.5 * result.Ties) / result.Valid, truncated);

    private static double? Rate(double rate) => double.IsNaN(rate) ? null : rate;

    private IAnswerComparer JudgeModel(string folder)
    {
        _run.Log.WriteLine($"{_stage}: checkpoint selection: judge {folder} ({(Config.Verdicts == SelectionVerdicts.Pairwise ? "pairwise" : "scores")})");
        string? template = Config.Judge is null ? (_run.Config.Template == "auto" ? null : _run.Config.Template)
            : Config.JudgeTemplate == "auto" ? null : Config.JudgeTemplate;
        var judge = ChatModel.Load(_run.Kernels, folder, template, _run.Config.GenerationRows);
        var sampling = Config.JudgeSampling with { Seed = _run.SeedOf(_stage + "/selection-judge") };
        // Greedy judgments of one text are all alike: one is enough.
        return Config.Verdicts == SelectionVerdicts.Pairwise ? new PairwiseComparer(judge, sampling)
            : new ScoreComparer(judge, _run.Judge, sampling, sampling.Temperature == 0 ? 1 : _run.Config.JudgeSamples);
    }

    /// <summary>Makes the chosen candidate the stage's model and removes the others unless they are to be kept.</summary>
    private void Install(long chosen)
    {
        string candidates = _run.PathOf(Path.Combine("train", _output, "candidates")), model = _run.PathOf(RunContext.ModelFolder(_output));
        string source = _run.PathOf(CandidateFolder(chosen));
        if (Directory.Exists(source))
        {
            string temporary = model + ".tmp";
            Directory.CreateDirectory(Path.GetDirectoryName(model)!);
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
            if (Config.KeepCheckpoints) CopyFolder(source, temporary);
            else Directory.Move(source, temporary);
            if (Directory.Exists(model)) Directory.Delete(model, recursive: true);
            Directory.Move(temporary, model);
        }
        else if (!File.Exists(Path.Combine(model, "model.safetensors")))
            throw new InvalidDataException($"{_stage}: the chosen candidate of step {chosen} is missing ({source}); redo the stage (fsr iterate --redo {_stage})");
        if (!Config.KeepCheckpoints && Directory.Exists(candidates)) Directory.Delete(candidates, recursive: true);
    }

    private static void CopyFolder(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (string file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
    }

    private void Report(SelectionRecord record)
    {
        foreach (var c in record.Candidates.Where(c => !c.Baseline))
        {
            var values = new List<KeyValuePair<string, double>>
            {
                KeyValuePair.Create("selection_invalid", (double)c.Invalid), KeyValuePair.Create("selection_truncated", (double)c.TruncatedAnswers),
            };
            foreach (var (name, value) in new[] { ("selection_preference", c.Preference), ("selection_win_rate", c.WinRate),
                         ("selection_tie_rate", c.TieRate), ("selection_loss_rate", c.LossRate) })
                if (value is double v) values.Add(KeyValuePair.Create(name, v));
            _run.Record(_stage, c.Step, values);
        }
        var chosen = record.Candidates.Single(c => c.Step == record.ChosenStep);
        _run.Record(_stage, record.ChosenStep, chosen.Preference is double preference
            ? [KeyValuePair.Create("selected_step", (double)record.ChosenStep), KeyValuePair.Create("selected_preference", preference)]
            : [KeyValuePair.Create("selected_step", (double)record.ChosenStep)]);
        long last = record.Candidates.Max(c => c.Step);
        string against = record.Against == SelectionBaseline.Final ? $"the last step's ({last})" : "the stage's starting model";
        bool noVerdict = record.Candidates.Where(c => !c.Baseline).All(c => c.Preference is null);
        string how = record.Candidates.Count == 1 ? "the stage ended before a first candidate step"
            : noVerdict ? "the judge gave no valid verdict on any prompt, so the last step stays"
            : chosen.Baseline ? "no earlier checkpoint was preferred to it"
            : $"preference {chosen.Preference:F3}: wins {chosen.WinRate * 100:F1}%, ties {chosen.TieRate * 100:F1}%, losses {chosen.LossRate * 100:F1}% against {against} answers";
        string prompts = record.PromptSource == "held_out" ? $"{record.Prompts} held-out prompts" : $"{record.Prompts} prompts of {record.PromptSource}";
        _run.Log.WriteLine($"{_stage}: checkpoint selection: step {record.ChosenStep} of {string.Join(", ", record.Candidates.Select(c => c.Step))} chosen " +
                           $"({how}; {prompts}, judge {record.Judge})");
        if (noVerdict && record.Candidates.Count > 1)
            _run.Log.WriteLine($"{_stage}: warning: " + (Config.Verdicts == SelectionVerdicts.Pairwise
                ? "the judge never ended with a verdict line in both orders; a model not taught the pairwise prompt cannot select (try checkpoint_selection.verdicts: scores, "
                : "the judge never scored both answers of a prompt; a model not taught the judge template cannot select (") +
                $"give checkpoint_selection.judge, or see the verdicts in {Path.Combine("train", _output, "selection")})");
    }

    /// <summary>A judge model that compares answers with the head-to-head prompt in both orders.</summary>
    private sealed class PairwiseComparer(ChatModel judge, SamplingOptions sampling) : IAnswerComparer, IDisposable
    {
        public IReadOnlyList<SelectionVerdict> Compare(IReadOnlyList<string> prompts, IReadOnlyList<string> answersA, IReadOnlyList<string> answersB) =>
        [
            .. HeadToHeadEvaluation.Judge(judge, prompts, answersA, answersB, sampling).Items
                .Select(item => new SelectionVerdict(item.Prompt, item.AnswerA, item.AnswerB, item.Outcome, [item.JudgmentAFirst, item.JudgmentBFirst])),
        ];

        public void Dispose() => judge.Dispose();
    }

    /// <summary>
    /// A judge model that scores each answer alone with the run's judge template (the rubric it was
    /// trained on) and prefers the higher mean score; a prompt with an answer it could not score is invalid.
    /// </summary>
    private sealed class ScoreComparer(ChatModel judge, JudgeTemplate template, SamplingOptions sampling, int samples) : IAnswerComparer, IDisposable
    {
        public IReadOnlyList<SelectionVerdict> Compare(IReadOnlyList<string> prompts, IReadOnlyList<string> answersA, IReadOnlyList<string> answersB)
        {
            // A's judge prompt of prompt i is request 2i, B's is 2i + 1.
            var judgePrompts = prompts.SelectMany((p, i) => new[] { template.Render(p, answersA[i]), template.Render(p, answersB[i]) }).ToList();
            var outputs = judge.Answer(judgePrompts, sampling, samples);
            var verdicts = new List<SelectionVerdict>(prompts.Count);
            for (int i = 0; i < prompts.Count; i++)
            {
                var (a, b) = (outputs[2 * i].Select(o => o.Text).ToList(), outputs[2 * i + 1].Select(o => o.Text).ToList());
                double? scoreA = JudgeScore.Summarize(a.Select(JudgeScore.Parse)).Mean, scoreB = JudgeScore.Summarize(b.Select(JudgeScore.Parse)).Mean;
                var outcome = scoreA is not double x || scoreB is not double y ? HeadToHeadOutcome.Invalid
                    : x > y ? HeadToHeadOutcome.Win : x < y ? HeadToHeadOutcome.Loss : HeadToHeadOutcome.Tie;
                verdicts.Add(new SelectionVerdict(prompts[i], answersA[i], answersB[i], outcome, [.. a, .. b], scoreA, scoreB));
            }
            return verdicts;
        }

        public void Dispose() => judge.Dispose();
    }
}
