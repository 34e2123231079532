using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Reporting;
using FastSelfReward.Training;

namespace FastSelfReward.SelfReward;

/// <summary>
/// The method of the paper as a sequence of resumable stages over one run folder:
/// <code>
/// sft   M0 + IFT                       → models/sft       (the SFT baseline)
/// eft   judge examples (gold or SFT-written) → eft/judge_train.jsonl
/// m1    M0 + IFT ∪ EFT                 → models/m1
/// iterT/prompts     Mt writes prompts (k-shot)            → iterT/prompts.jsonl
/// iterT/candidates  Mt answers each N times               → iterT/candidates.jsonl
/// iterT/judgments   Mt judges each answer k times         → iterT/judgments.jsonl
/// iterT/pairs       best vs worst mean score              → iterT/pairs.jsonl
/// iterT/dpo         DPO from Mt against frozen Mt         → models/m(T+1)
/// </code>
/// A stage marked done in manifest.json is skipped (its artifacts verified by hash); a partial one
/// resumes: generation stages at their first unwritten batch, training stages at their last
/// checkpoint. Random numbers are keyed by (stage seed, record, sample, position), so a resumed run
/// writes the artifacts an uninterrupted one would.
/// </summary>
public sealed class SelfRewardingRun(RunContext run)
{
    /// <summary>Runs every unfinished stage in order.</summary>
    public void RunAll(CancellationToken cancel = default)
    {
        foreach (var stage in StageId.All(run.Config.Iterations))
        {
            cancel.ThrowIfCancellationRequested();
            RunStage(stage, cancel);
        }
    }

    /// <summary>
    /// Makes <paramref name="stage"/> and every stage after it unfinished, deleting what they wrote,
    /// so the next <see cref="RunAll"/> runs them again from the stage's inputs.
    /// </summary>
    public void Redo(StageId stage)
    {
        var stages = StageId.All(run.Config.Iterations).ToList();
        int index = stages.IndexOf(stage);
        if (index < 0) throw new ArgumentException($"stage {stage} is not part of this run of {run.Config.Iterations} iterations");
        if (!run.World.IsRoot)
        {
            run.World.Barrier();
            return;
        }
        foreach (var later in stages.Skip(index).Reverse())
        {
            foreach (string output in later.Outputs)
            {
                string path = run.PathOf(output);
                if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
                else if (File.Exists(path)) File.Delete(path);
            }
            run.Manifest.Forget(later.Name);
        }
        run.Log.WriteLine($"{stage}: to be redone, with the {stages.Count - index - 1} stages after it");
        run.World.Barrier();
    }

    /// <summary>
    /// Runs one stage (skipped when done); its inputs must be done. With several ranks, rank 0 keeps
    /// the manifest and runs the generation stages while the others wait; every rank trains.
    /// </summary>
    public void RunStage(StageId stage, CancellationToken cancel = default)
    {
        string name = stage.Name;
        var world = run.World;
        using var _ = Nvtx.Range(name);
        if (world.RootSays(run.Manifest.IsDone(name)))
        {
            if (!world.IsRoot) return;
            // Its data files must be as finished; a model no stage still to run needs may be gone.
            run.Manifest.Verify(name, run.Directory, artifact => !IsModel(artifact));
            run.Log.WriteLine($"{name}: done, skipped");
            return;
        }
        if (world.IsRoot)
        {
            var stages = StageId.All(run.Config.Iterations);
            int index = stages.ToList().IndexOf(stage);
            if (index < 0) throw new ArgumentException($"stage {name} is not part of this run of {run.Config.Iterations} iterations");
            string? needed = ModelRead(stage);
            foreach (var before in stages.Take(index))
            {
                if (!run.Manifest.IsDone(before.Name)) throw new InvalidOperationException($"stage {name} needs {before}, which has not finished");
                run.Manifest.Verify(before.Name, run.Directory,
                    artifact => !IsModel(artifact) || (needed is not null && artifact.StartsWith(RunContext.ModelFolder(needed) + Path.DirectorySeparatorChar, StringComparison.Ordinal)));
            }
            run.Log.WriteLine($"{name}: running");
            run.Manifest.MarkPartial(name);
        }
        // A rank that fails ends the job (the CLI aborts it), so passing here means rank 0's checks passed.
        world.Barrier();
        bool trains = stage.Kind is StageKind.Sft or StageKind.M1 or StageKind.Dpo;
        var artifacts = trains || world.IsRoot ? Execute(stage, cancel) : [];
        world.Barrier();
        if (!world.IsRoot) return;
        run.Manifest.MarkDone(name, run.Directory, artifacts);
        run.Log.WriteLine($"{name}: done");
    }

    private static bool IsModel(string artifact) => artifact.StartsWith("models" + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The run model a stage loads (sft, m1, ...), or null when it reads none (M0 is outside the run).</summary>
    private string? ModelRead(StageId stage) => stage.Kind switch
    {
        StageKind.Eft => run.Config.EftMode == EftMode.Model ? "sft" : null,
        StageKind.Prompts or StageKind.Candidates or StageKind.Judgments or StageKind.Dpo => stage.Model,
        _ => null,
    };

    private IReadOnlyList<string> Execute(StageId stage, CancellationToken cancel)
    {
        string folder = stage.Folder, model = stage.Model, name = stage.Name;
        var generation = new GenerationStages(run);
        return stage.Kind switch
        {
            StageKind.Sft => TrainSft(name, "sft", withJudgeExamples: false, cancel),
            StageKind.Eft => BuildEft(cancel),
            StageKind.M1 => TrainSft(name, "m1", withJudgeExamples: true, cancel),
            StageKind.Prompts => generation.WritePrompts(name, model, Path.Combine(folder, "prompts.jsonl"), cancel),
            StageKind.Candidates => generation.WriteCandidates(name, model, Path.Combine(folder, "prompts.jsonl"), Path.Combine(folder, "candidates.jsonl"), cancel),
            StageKind.Judgments => generation.WriteJudgments(name, model, Path.Combine(folder, "candidates.jsonl"), Path.Combine(folder, "judgments.jsonl"), cancel),
            StageKind.Pairs => WritePairs(name, folder),
            StageKind.Dpo => TrainDpo(name, model, $"m{stage.Iteration + 1}", folder, cancel),
            _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "unknown stage"),
        };
    }

    /// <summary>SFT from M0 on IFT (the SFT baseline), or on IFT ∪ judge examples (M1).</summary>
    private IReadOnlyList<string> TrainSft(string stage, string output, bool withJudgeExamples, CancellationToken cancel)
    {
        var pairs = WithoutEvaluationPrompts(stage, "IFT examples", Jsonl.ReadAll<IftRecord>(run.Config.Ift).Records, r => r.Prompt)
            .Select(r => (Prompt: r.Prompt, r.Response, User: true)).ToList();
        if (withJudgeExamples)
            pairs.AddRange(Jsonl.ReadAll<JudgeExample>(run.PathOf(Path.Combine("eft", "judge_train.jsonl"))).Records.Select(r => (r.Prompt, r.Response, User: false)));
        int context = run.ModelConfig.MaxPositionEmbeddings, tooLong = 0;
        var examples = new List<LmExample>();
        var userPrompts = new List<string?>();
        foreach (var (prompt, response, user) in pairs)
        {
            var example = LmExample.FromChat(run.Template.Render(prompt, response));
            if (example.Tokens.Length > context) tooLong++;
            else
            {
                examples.Add(example);
                userPrompts.Add(user ? prompt : null);
            }
        }
        if (tooLong > 0) run.Log.WriteLine($"{stage}: {tooLong} examples longer than the context of {context} tokens dropped");
        if (examples.Count < 2) throw new InvalidDataException($"{stage}: {examples.Count} usable examples; SFT needs at least two");

        // A micro-batch budget below the context would only send long examples through alone.
        var options = run.Config.Sft with { MicroBatchTokens = run.Config.Sft.MicroBatchTokens is int budget ? Math.Max(budget, context) : null };
        var selection = run.Config.CheckpointSelection.SftEvery is int every and > 0 ? new CheckpointSelection(run, stage, output, every) : null;
        IReadOnlyList<string> heldOutPrompts;
        long steps;
        using (var model = run.LoadModel(null))
        using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, options, run.Config.Seed, run.World, run.ShardOptimizer))
        {
            selection?.SaveCandidatesOf(training, model);
            Train(stage, output, training, cancel);
            if (selection is null) return run.SaveModel(model, output);
            heldOutPrompts = [.. training.HeldOutIndices.Select(i => userPrompts[i]).OfType<string>()];
            steps = training.TotalSteps;
        }
        // M0 was never taught to judge: the last checkpoint, trained on the judge examples for M1, judges.
        return selection.Select(heldOutPrompts, run.Config.BaseModel, ownJudgeFolder: null, steps, cancel);
    }

    /// <summary>The judge training set: gold judgments from the EFT file, or the SFT baseline's, filtered by rank agreement.</summary>
    private IReadOnlyList<string> BuildEft(CancellationToken cancel)
    {
        var records = WithoutEvaluationPrompts("eft", "ranked sets", Jsonl.ReadAll<EftRecord>(run.Config.Eft).Records, r => r.Prompt);
        var options = new EftBuildOptions
        {
            Template = run.Judge, Seed = run.SeedOf("eft"),
            Length = e => run.Template.Render(e.Prompt, e.Response).Ids.Length,
            ContextWindow = run.ModelConfig.MaxPositionEmbeddings,
        };
        var result = run.Config.EftMode == EftMode.Gold
            ? EftBuilder.FromGold(records, options)
            : EftBuilder.FromModelJudgments(new GenerationStages(run).JudgeEftResponses(records, cancel), options);
        string artifact = Path.Combine("eft", "judge_train.jsonl");
        Directory.CreateDirectory(run.PathOf("eft"));
        Jsonl.WriteAll(run.PathOf(artifact), result.Examples);
        var s = result.Stats;
        run.Log.WriteLine($"eft: {s.Examples} judge examples from {s.Sets} ranked sets ({s.AgreeingSets} agreeing); dropped: " +
                          string.Join(", ", s.Dropped.Where(d => d.Value > 0).Select(d => $"{d.Key} {d.Value}")));
        run.Record("eft", 0, [KeyValuePair.Create("examples", (double)s.Examples), KeyValuePair.Create("sets", (double)s.Sets),
            KeyValuePair.Create("agreeing_sets", (double)s.AgreeingSets)]);
        if (result.Examples.Count == 0) throw new InvalidDataException("eft: no judge examples survived; check the EFT data and the judge template");
        return [artifact];
    }

    /// <summary>The records whose prompt is not an evaluation prompt (exact or ROUGE-L); the dropped ones are counted in the log.</summary>
    private List<T> WithoutEvaluationPrompts<T>(string stage, string what, IEnumerable<T> records, Func<T, string> prompt)
    {
        var all = records.ToList();
        var kept = all.Where(r => !run.Exclusion.Excludes(prompt(r))).ToList();
        if (kept.Count < all.Count)
            run.Log.WriteLine($"{stage}: {all.Count - kept.Count} {what} dropped: their prompt is an evaluation prompt (exact or ROUGE-L ≥ {run.Config.Prompts.MaxRougeL})");
        return kept;
    }

    private IReadOnlyList<string> WritePairs(string stage, string folder)
    {
        var candidates = Jsonl.ReadAll<CandidatesRecord>(run.PathOf(Path.Combine(folder, "candidates.jsonl"))).Records;
        var judgments = Jsonl.ReadAll<JudgmentRecord>(run.PathOf(Path.Combine(folder, "judgments.jsonl"))).Records;
        var result = PairBuilder.Build(candidates, judgments, run.Config.TruncatedAnswers);
        string artifact = Path.Combine(folder, "pairs.jsonl");
        Jsonl.WriteAll(run.PathOf(artifact), result.Pairs);
        var s = result.Stats;
        run.Log.WriteLine($"{stage}: {s.Pairs} pairs from {s.Prompts} prompts; dropped: " +
                          string.Join(", ", s.Dropped.Select(d => $"{d.Key} {d.Value}")) +
                          $"; truncated answers {s.TruncatedAnswers}, unscored {s.UnscoredAnswers}; " +
                          $"mean score chosen {s.MeanScoreChosen:F2} rejected {s.MeanScoreRejected:F2}; " +
                          $"mean length chosen {s.MeanLengthChosen:F0} rejected {s.MeanLengthRejected:F0} chars");
        run.Record(stage, 0, [KeyValuePair.Create("pairs", (double)s.Pairs), KeyValuePair.Create("prompts", (double)s.Prompts),
            KeyValuePair.Create("score_chosen", s.MeanScoreChosen), KeyValuePair.Create("score_rejected", s.MeanScoreRejected),
            KeyValuePair.Create("length_chosen", s.MeanLengthChosen), KeyValuePair.Create("length_rejected", s.MeanLengthRejected)]);
        return [artifact];
    }

    /// <summary>DPO from Mt with Mt as the frozen reference, on the iteration's pairs → M(t+1).</summary>
    private IReadOnlyList<string> TrainDpo(string stage, string from, string output, string folder, CancellationToken cancel)
    {
        var records = Jsonl.ReadAll<PairRecord>(run.PathOf(Path.Combine(folder, "pairs.jsonl"))).Records;
        int context = run.ModelConfig.MaxPositionEmbeddings;
        var rendered = records.Select(p => (p.Prompt, Pair: PreferencePair.Render(run.Template, p.Prompt, p.Chosen, p.Rejected)))
            .Where(p => p.Pair.ChosenSequence.Length <= context && p.Pair.RejectedSequence.Length <= context).ToList();
        var pairs = rendered.Select(p => p.Pair).ToList();
        var prompts = rendered.Select(p => p.Prompt).ToList();
        if (pairs.Count < records.Count) run.Log.WriteLine($"{stage}: {records.Count - pairs.Count} pairs longer than the context dropped");
        string[] referenceArtifact = [Path.Combine(folder, "reference_logps.jsonl")];
        var selection = run.Config.CheckpointSelection.DpoEvery is int every and > 0 ? new CheckpointSelection(run, stage, output, every) : null;
        IReadOnlyList<string> heldOutPrompts;
        long steps;
        using (var model = run.LoadModel(from))
        {
            if (pairs.Count < 2)
            {
                // Nothing to prefer: the iteration keeps Mt, as the paper's loop would with no pairs.
                run.Log.WriteLine($"{stage}: only {pairs.Count} usable preference pairs; DPO skipped and {output} is {from} unchanged");
                run.Record(stage, 0, [KeyValuePair.Create("skipped", 1.0), KeyValuePair.Create("pairs", (double)pairs.Count)]);
                return run.SaveModel(model, output);
            }
            var options = run.Config.Dpo with { MicroBatchTokens = run.Config.Dpo.MicroBatchTokens is int budget ? Math.Max(budget, 2 * context) : null };
            var reference = ReferenceLogProbs.LoadOrCompute(run.PathOf(referenceArtifact[0]), model, pairs, run.TokenizerFiles, options.MicroBatchTokens,
                run.World);
            using var training = TrainingRun.Create(model, new DpoObjective(model, options), reference.Examples(pairs), options, run.Config.Seed, run.World,
                run.ShardOptimizer);
            selection?.SaveCandidatesOf(training, model);
            Train(stage, output, training, cancel);
            if (selection is null) return [.. run.SaveModel(model, output), .. referenceArtifact];
            heldOutPrompts = [.. training.HeldOutIndices.Select(i => prompts[i])];
            steps = training.TotalSteps;
        }
        // Mt judged the iteration's answers: it is the run's judge here, and not one of the candidates.
        string start = run.PathOf(RunContext.ModelFolder(from));
        return [.. selection.Select(heldOutPrompts, start, ownJudgeFolder: start, steps, cancel), .. referenceArtifact];
    }

    /// <summary>Runs a stage's training with its metrics in metrics.jsonl under the stage's name, resuming from the stage's training state.</summary>
    private void Train<TExample, TMetrics>(string stage, string output, TrainingRun<TExample, TMetrics> training, CancellationToken cancel)
        where TMetrics : class, ITrainingMetrics<TMetrics>
    {
        var summary = training.Run(new TrainingOutput
        {
            CheckpointPath = run.PathOf(Path.Combine("train", output, "state.safetensors")),
            Progress = run.Progress, Label = stage, Metrics = run.Metrics, MetricsPrefix = stage + "/",
        }, cancel);
        if (summary.ResumedFrom is long resumed) run.Log.WriteLine($"{stage}: resumed from step {resumed}");
    }
}
