using FastSelfReward.Data;

namespace FastSelfReward.World;

/// <summary>
/// Writes the world's data files in the loop's formats. The held-out evaluation prompts are drawn
/// first, and no other file ever contains one of them. Each file draws from its own random stream,
/// so changing one file's size leaves the others as they were.
/// </summary>
public static class WorldData
{
    /// <summary>Writes corpus.jsonl, ift.jsonl, eft_train.jsonl, eft_eval.jsonl and eval_prompts.jsonl into <paramref name="folder"/>.</summary>
    /// <exception cref="ArgumentException">A size is out of range.</exception>
    public static WorldDataFiles Write(string folder, WorldDataOptions options)
    {
        Validate(options);
        Directory.CreateDirectory(folder);
        var files = new WorldDataFiles(
            Path.Combine(folder, "corpus.jsonl"), Path.Combine(folder, "ift.jsonl"), Path.Combine(folder, "eft_train.jsonl"),
            Path.Combine(folder, "eft_eval.jsonl"), Path.Combine(folder, "eval_prompts.jsonl"));

        IReadOnlyList<WorldTask> evaluation = InstructionWorld.EvaluationTasks(options.Seed, options.EvalPrompts);
        var heldOut = evaluation.Select(t => t.Prompt).ToHashSet(StringComparer.Ordinal);
        Jsonl.WriteAll(files.EvalPrompts, evaluation.Select((t, i) => new PromptRecord($"eval-{i + 1:D4}", t.Prompt, "eval")));

        var corpusRandom = Stream(options, 2);
        Jsonl.WriteAll(files.Corpus,
            Enumerable.Range(0, options.CorpusDocuments).Select(_ => new TextRecord(CorpusWriter.Document(corpusRandom, () => Draw(corpusRandom, heldOut)))));

        Jsonl.WriteAll(files.Ift, Ift(options, heldOut));

        var eftPrompts = new HashSet<string>(heldOut, StringComparer.Ordinal);
        Jsonl.WriteAll(files.EftTrain, Eft(Stream(options, 4), options.EftTrainPrompts, options.ResponsesPerEftPrompt, options.EftContrastsExtraText, eftPrompts));
        Jsonl.WriteAll(files.EftEval, Eft(Stream(options, 5), options.EftEvalPrompts, options.ResponsesPerEftPrompt, options.EftContrastsExtraText, eftPrompts));
        return files;
    }

    private static void Validate(WorldDataOptions o)
    {
        if (o.EvalPrompts < 0 || o.CorpusDocuments < 0 || o.IftExamples < 0 || o.EftTrainPrompts < 0 || o.EftEvalPrompts < 0)
            throw new ArgumentException("world data sizes must not be negative", nameof(o));
        if (o.ResponsesPerEftPrompt is < 2 or > 6)
            throw new ArgumentException($"ResponsesPerEftPrompt is {o.ResponsesPerEftPrompt}; expected 2 to 6 (one per quality level)", nameof(o));
        if (o.ImperfectIftFraction is < 0 or > 1 || double.IsNaN(o.ImperfectIftFraction))
            throw new ArgumentException($"ImperfectIftFraction is {o.ImperfectIftFraction}; expected 0 to 1", nameof(o));
    }

    private static Random Stream(WorldDataOptions options, int stream) => new(InstructionWorld.DeriveSeed(options.Seed, stream));

    // A task whose prompt is not in `excluded`.
    private static WorldTask Draw(Random random, IReadOnlySet<string> excluded)
    {
        while (true)
        {
            WorldTask task = InstructionWorld.Sample(random);
            if (!excluded.Contains(task.Prompt)) return task;
        }
    }

    private static IEnumerable<IftRecord> Ift(WorldDataOptions options, IReadOnlySet<string> heldOut)
    {
        var random = Stream(options, 3);
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.IftExamples; i++)
        {
            // Prefer prompts not used yet; the small word families run out, so repeats are allowed after a while.
            WorldTask task = Draw(random, heldOut);
            for (int attempt = 0; attempt < 20 && used.Contains(task.Prompt); attempt++) task = Draw(random, heldOut);
            used.Add(task.Prompt);
            ResponseQuality quality = random.NextDouble() >= options.ImperfectIftFraction ? ResponseQuality.Perfect
                : random.Next(2) == 0 ? ResponseQuality.Bare : ResponseQuality.Extraneous;
            yield return new IftRecord(task.Prompt, ResponseWriter.Write(task, quality, random));
        }
    }

    // Each prompt gets responses of distinct qualities, so the gold ranking has no ties (rank 0 is the
    // best); `taken` collects prompts across calls so train and eval never share one. The gold
    // judgment, the oracle's justification and score line, is what the loop's gold EFT mode trains on.
    private static IEnumerable<EftRecord> Eft(Random random, int prompts, int responsesPerPrompt, bool contrastExtraText, HashSet<string> taken)
    {
        ResponseQuality[] always = contrastExtraText ? [ResponseQuality.Perfect, ResponseQuality.Extraneous] : [];
        for (int i = 0; i < prompts; i++)
        {
            WorldTask task = Draw(random, taken);
            taken.Add(task.Prompt);
            var responses = always.Concat(Enum.GetValues<ResponseQuality>().Except(always)
                    .OrderBy(_ => random.Next()).Take(responsesPerPrompt - always.Length))
                .Select(q => ResponseWriter.Write(task, q, random))
                .Select(text => (Text: text, Grade: Oracle.Grade(task, text)))
                .OrderByDescending(r => r.Grade.Score)
                .Select((r, rank) => new RankedResponse(r.Text, rank, $"{r.Grade.Justification}\nScore: {r.Grade.Score}"))
                .ToList();
            yield return new EftRecord(task.Prompt, responses);
        }
    }
}
