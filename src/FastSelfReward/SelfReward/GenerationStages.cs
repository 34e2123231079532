using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Text;

namespace FastSelfReward.SelfReward;

/// <summary>
/// The stages in which a model writes: new prompts (self-instruction), candidate answers, and its
/// judgments of them. Each appends its artifact batch by batch and, when rerun after a kill, reads
/// what is there and continues with the first record it lacks. Record ids key the random numbers,
/// so the resumed artifact equals the uninterrupted one.
/// </summary>
internal sealed class GenerationStages(RunContext run)
{
    /// <summary>Mt (or the configured prompt model) writes the iteration's prompts k-shot from the IFT prompts.</summary>
    public IReadOnlyList<string> WritePrompts(string stage, string modelName, string artifact, CancellationToken cancel)
    {
        var c = run.Config.Prompts;
        // Evaluation prompts never serve as shots, or the model would be shown the test.
        var pool = Jsonl.ReadAll<IftRecord>(run.Config.Ift).Records.Select(r => r.Prompt).Where(p => !run.Exclusion.Excludes(p)).ToList();
        var filter = new InstructionFilter(pool, run.Exclusion.Prompts, new SelfInstructOptions
        {
            Shots = c.Shots, MinWords = c.MinWords, MaxWords = c.MaxWords, MaxRougeL = c.MaxRougeL,
        });
        using var appender = JsonlAppender<PromptRecord>.Open(run.PathOf(artifact));
        var written = Jsonl.ReadAll<PromptRecord>(run.PathOf(artifact)).Records;
        // The filter's state is the prompts accepted so far; replaying them restores it exactly.
        foreach (var record in written) filter.Consider(record.Prompt, FinishReason.Stop);
        long attempt = written.Count == 0 ? 0 : AttemptOf(written[^1].Id) + 1;
        long maxAttempts = (long)c.Count * c.MaxAttemptsPerPrompt;
        int accepted = written.Count;
        if (accepted > 0) run.Log.WriteLine($"{stage}: resumed after {accepted} of {c.Count} prompts ({attempt} attempts)");

        // A separate writer speaks its own tokenizer: prompts are encoded, and its output decoded, with it.
        using var model = run.LoadModel(c.PromptModel is null ? modelName : null, c.PromptModel);
        ITextTokenizer tokenizer = run.Tokenizer;
        IReadOnlyList<int> stopIds = run.StopIds;
        if (c.PromptModel is not null)
        {
            tokenizer = TextTokenizer.Load(c.PromptModel);
            stopIds = Completions.StopIds(model.Config, tokenizer, ChatTemplate.Create(tokenizer, c.PromptModelTemplate == "auto" ? null : c.PromptModelTemplate));
        }
        using var generator = new Generator(model, stopIds, run.Config.GenerationRows);
        var sampling = c.Sampling with { Seed = run.SeedOf(stage) };
        ulong shotSeed = run.SeedOf(stage + "/shots");
        run.Progress.Start(c.Count, stage);
        while (accepted < c.Count && attempt < maxAttempts)
        {
            cancel.ThrowIfCancellationRequested();
            int batch = (int)Math.Min(run.Config.GenerationBatch, maxAttempts - attempt);
            var requests = new List<GenerationRequest>(batch);
            for (int i = 0; i < batch; i++)
            {
                string text = SelfInstruct.BuildPrompt(SelfInstruct.SampleShots(pool, c.Shots, shotSeed, attempt + i));
                requests.Add(new GenerationRequest(attempt + i, CompletionIds(text, tokenizer, model.Config)));
            }
            var outputs = run.Generate(generator, requests, sampling, tokenizer);
            var records = new List<PromptRecord>();
            for (int i = 0; i < batch && accepted + records.Count < c.Count; i++)
            {
                var (verdict, instruction) = filter.Consider(outputs[i][0].Text, outputs[i][0].Finish);
                if (verdict == InstructionVerdict.Accepted)
                    records.Add(new PromptRecord($"{stage.Split('/')[0]}-{attempt + i}", instruction!, "self-instruct"));
            }
            appender.Append(records);
            accepted += records.Count;
            attempt += batch;
            run.Progress.Report(new Reporting.ProgressUpdate(accepted));
        }
        run.Progress.Finish();
        run.Log.WriteLine($"{stage}: {accepted} prompts accepted of {attempt} attempts; verdicts: " +
                          string.Join(", ", filter.Counts.Where(v => v.Value > 0).Select(v => $"{v.Key} {v.Value}")));
        run.Record(stage, 0, [KeyValuePair.Create("accepted", (double)accepted), KeyValuePair.Create("attempts", (double)attempt)]);
        if (accepted == 0) throw new InvalidDataException($"{stage}: no generated prompt passed the filters in {attempt} attempts");
        return [artifact];
    }

    /// <summary>Mt answers every prompt N times (sharing the prompt's KV prefix).</summary>
    public IReadOnlyList<string> WriteCandidates(string stage, string modelName, string promptsArtifact, string artifact, CancellationToken cancel)
    {
        var prompts = Jsonl.ReadAll<PromptRecord>(run.PathOf(promptsArtifact)).Records;
        using var appender = JsonlAppender<CandidatesRecord>.Open(run.PathOf(artifact));
        var earlier = Jsonl.ReadAll<CandidatesRecord>(run.PathOf(artifact)).Records;
        int done = earlier.Count;
        if (done > 0) run.Log.WriteLine($"{stage}: resumed after {done} of {prompts.Count} prompts");
        int answerCount = earlier.Sum(r => r.FinishReasons.Count), truncated = earlier.Sum(r => r.FinishReasons.Count(f => f == FinishReason.Length));
        using var model = run.LoadModel(modelName);
        using var generator = new Generator(model, run.StopIds, run.Config.GenerationRows);
        var sampling = run.Config.CandidateSampling with { Seed = run.SeedOf(stage) };
        int n = run.Config.Candidates, skipped = 0;
        run.Progress.Start(prompts.Count, stage);
        for (int start = done; start < prompts.Count; start += run.Config.GenerationBatch)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = prompts.Skip(start).Take(run.Config.GenerationBatch).ToList();
            var requests = new List<GenerationRequest>();
            var fits = new List<bool>();
            for (int i = 0; i < batch.Count; i++)
            {
                var ids = run.Template.Render(batch[i].Prompt).PromptIds;
                fits.Add(ids.Count < model.Config.MaxPositionEmbeddings);
                if (fits[^1]) requests.Add(new GenerationRequest(start + i, ids, n));
            }
            var outputs = run.Generate(generator, requests, sampling);
            var records = new List<CandidatesRecord>();
            int next = 0;
            for (int i = 0; i < batch.Count; i++)
            {
                // A prompt too long to answer gets an empty record, so record i stays prompt i.
                var answers = fits[i] ? outputs[next++] : [];
                if (!fits[i]) skipped++;
                records.Add(new CandidatesRecord(batch[i].Id, batch[i].Prompt, [.. answers.Select(a => a.Text)], [.. answers.Select(a => a.Finish)]));
                answerCount += answers.Length;
                truncated += answers.Count(a => a.Finish == FinishReason.Length);
            }
            appender.Append(records);
            run.Progress.Report(new Reporting.ProgressUpdate(start + batch.Count));
        }
        run.Progress.Finish();
        if (skipped > 0) run.Log.WriteLine($"{stage}: {skipped} prompts too long for the context were not answered");
        run.Log.WriteLine($"{stage}: {truncated} of {answerCount} answers hit max_tokens {sampling.MaxTokens} (truncated_answers: {run.Config.TruncatedAnswers.ToString().ToLowerInvariant()})");
        run.Record(stage, 0, [KeyValuePair.Create("answers", (double)answerCount), KeyValuePair.Create("answers_truncated", (double)truncated)]);
        return [artifact];
    }

    /// <summary>
    /// Mt judges every candidate k times with the judge prompt (those cut by their budget too, unless
    /// <c>truncated_answers</c> is <c>drop</c>); scores are parsed and averaged.
    /// </summary>
    public IReadOnlyList<string> WriteJudgments(string stage, string modelName, string candidatesArtifact, string artifact, CancellationToken cancel)
    {
        var candidates = Jsonl.ReadAll<CandidatesRecord>(run.PathOf(candidatesArtifact)).Records;
        // One job per answer; a truncated one only when its scores can matter (kept, or recorded unpaired).
        bool judgeTruncated = run.Config.TruncatedAnswers != TruncatedAnswers.Drop;
        var jobs = new List<(CandidatesRecord Record, int Prompt, int Candidate)>();
        for (int p = 0; p < candidates.Count; p++)
            for (int c = 0; c < candidates[p].Candidates.Count; c++)
                if (judgeTruncated || candidates[p].FinishReasons[c] == FinishReason.Stop) jobs.Add((candidates[p], p, c));

        using var appender = JsonlAppender<JudgmentRecord>.Open(run.PathOf(artifact));
        int done = Jsonl.ReadAll<JudgmentRecord>(run.PathOf(artifact)).Records.Count;
        if (done > 0) run.Log.WriteLine($"{stage}: resumed after {done} of {jobs.Count} answers judged");
        using var model = run.LoadModel(modelName);
        using var generator = new Generator(model, run.StopIds, run.Config.GenerationRows);
        var sampling = run.Config.JudgeSampling with { Seed = run.SeedOf(stage) };
        int k = run.Config.JudgeSamples, n = run.Config.Candidates, parsed = 0, failed = 0, tooLong = 0, cut = 0;
        run.Progress.Start(jobs.Count, stage);
        for (int start = done; start < jobs.Count; start += run.Config.GenerationBatch)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = jobs.Skip(start).Take(run.Config.GenerationBatch).ToList();
            var requests = new List<GenerationRequest>();
            var fits = new List<bool>();
            foreach (var job in batch)
            {
                var ids = run.Template.Render(run.Judge.Render(job.Record.Prompt, job.Record.Candidates[job.Candidate])).PromptIds;
                fits.Add(ids.Count < model.Config.MaxPositionEmbeddings);
                if (fits[^1]) requests.Add(new GenerationRequest((long)job.Prompt * n + job.Candidate, ids, k));
            }
            var outputs = run.Generate(generator, requests, sampling);
            var records = new List<JudgmentRecord>();
            int next = 0;
            for (int i = 0; i < batch.Count; i++)
            {
                var samples = fits[i] ? outputs[next++] : [];
                cut += samples.Count(o => o.Finish == FinishReason.Length);
                var texts = samples.Select(o => o.Text);
                if (!fits[i]) tooLong++;
                var record = JudgeScore.Judge(batch[i].Record.Id, batch[i].Candidate, texts);
                parsed += record.Samples.Count(s => s.Score is not null);
                failed += record.Samples.Count(s => s.Score is null);
                records.Add(record);
            }
            appender.Append(records);
            run.Progress.Report(new Reporting.ProgressUpdate(start + batch.Count));
        }
        run.Progress.Finish();
        run.Log.WriteLine($"{stage}: {jobs.Count} answers judged {k}× (this session: {parsed} scores parsed, {failed} parse failures, " +
                          $"{cut} judgments cut at max_tokens {sampling.MaxTokens}" + (tooLong > 0 ? $", {tooLong} judge prompts too long" : "") + ")");
        run.Record(stage, 0, [KeyValuePair.Create("judged", (double)jobs.Count), KeyValuePair.Create("parse_failures", (double)failed),
            KeyValuePair.Create("judgments_truncated", (double)cut)]);
        return [artifact];
    }

    /// <summary>
    /// EFT in model-written mode: the SFT baseline judges every response of every ranked set k times
    /// (appended to eft/sft_judgments.jsonl batch by batch, so this too resumes).
    /// </summary>
    public IReadOnlyList<EftJudgedSet> JudgeEftResponses(IReadOnlyList<EftRecord> records, CancellationToken cancel)
    {
        string artifact = run.PathOf(Path.Combine("eft", "sft_judgments.jsonl"));
        var jobs = records.SelectMany((r, p) => r.Responses.Select((_, c) => (Prompt: p, Candidate: c))).ToList();
        using (var appender = JsonlAppender<JudgmentRecord>.Open(artifact))
        {
            int done = Jsonl.ReadAll<JudgmentRecord>(artifact).Records.Count;
            if (done > 0) run.Log.WriteLine($"eft: resumed after {done} of {jobs.Count} responses judged");
            using var model = run.LoadModel("sft");
            using var generator = new Generator(model, run.StopIds, run.Config.GenerationRows);
            var sampling = run.Config.JudgeSampling with { Seed = run.SeedOf("eft") };
            int k = run.Config.JudgeSamples;
            long stride = records.Count == 0 ? 1 : records.Max(r => r.Responses.Count);
            int tooLong = 0;
            run.Progress.Start(jobs.Count, "eft");
            for (int start = done; start < jobs.Count; start += run.Config.GenerationBatch)
            {
                cancel.ThrowIfCancellationRequested();
                var batch = jobs.Skip(start).Take(run.Config.GenerationBatch).ToList();
                // A judge prompt is never cut to fit (cutting its head would drop the instructions): one
                // that fills the context gets no samples, so the EFT builder drops its set as unparsed.
                var prompts = batch.Select(j => run.Template.Render(run.Judge.Render(records[j.Prompt].Prompt, records[j.Prompt].Responses[j.Candidate].Text)).PromptIds).ToList();
                var fits = prompts.Select(ids => ids.Count < model.Config.MaxPositionEmbeddings).ToList();
                var requests = batch.Select((j, i) => (j, i)).Where(x => fits[x.i])
                    .Select(x => new GenerationRequest(x.j.Prompt * stride + x.j.Candidate, prompts[x.i], k)).ToList();
                var outputs = run.Generate(generator, requests, sampling);
                int next = 0;
                var judged = new List<JudgmentRecord>(batch.Count);
                for (int i = 0; i < batch.Count; i++)
                {
                    var texts = fits[i] ? outputs[next++].Select(o => o.Text) : [];
                    if (!fits[i]) tooLong++;
                    judged.Add(JudgeScore.Judge($"eft-{batch[i].Prompt}", batch[i].Candidate, texts));
                }
                appender.Append(judged);
                run.Progress.Report(new Reporting.ProgressUpdate(start + batch.Count));
            }
            run.Progress.Finish();
            if (tooLong > 0)
                run.Log.WriteLine($"eft: {tooLong} responses not judged: their judge prompt fills the context of {model.Config.MaxPositionEmbeddings} tokens");
        }
        var judgments = Jsonl.ReadAll<JudgmentRecord>(artifact).Records.ToDictionary(j => (j.Id, j.Candidate));
        return records.Select((r, p) => new EftJudgedSet(r,
            r.Responses.Select((_, c) => (IReadOnlyList<string>)judgments[($"eft-{p}", c)].Samples.Select(s => s.Text).ToList()).ToList())).ToList();
    }

    /// <summary>A plain completion prompt (no chat template), with BOS when the tokenizer has one.</summary>
    private static int[] CompletionIds(string text, ITextTokenizer tokenizer, LlamaConfig config) =>
        FitContext([.. (tokenizer.BosId is int bos ? [bos] : Array.Empty<int>()), .. tokenizer.Encode(text)], config);

    /// <summary>Keeps the last tokens of a prompt that would not leave room to answer (the end carries the question).</summary>
    private static int[] FitContext(IReadOnlyList<int> ids, LlamaConfig config)
    {
        int limit = config.MaxPositionEmbeddings / 2;
        return ids.Count <= limit ? [.. ids] : [.. ids.Skip(ids.Count - limit)];
    }

    private static long AttemptOf(string id) => long.Parse(id.AsSpan(id.LastIndexOf('-') + 1));
}
