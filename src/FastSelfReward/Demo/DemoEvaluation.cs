using System.Text.Json;
using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.SelfReward;
using FastSelfReward.World;

namespace FastSelfReward.Demo;

/// <summary>
/// Measures each model of a finished run with the oracle, after the fact: greedy answers to the
/// held-out prompts, graded, and one answer to each sampled as the loop samples its candidates; and the model as a judge of the held-out ranked sets, with the run's own
/// judge template, sampling and sample count. Each model's result is written to
/// <c>&lt;folder&gt;/&lt;model&gt;.json</c> once; a rerun reads it instead of evaluating again.
/// </summary>
public sealed class DemoEvaluation(RunContext run, WorldDataFiles files, int evalPrompts, string folder)
{
    /// <summary>Indented snake_case JSON; an undefined measure (NaN) is written as the string "NaN".</summary>
    internal static readonly JsonSerializerOptions Json = new(Jsonl.Options)
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Every model the run made, in order: the SFT baseline, M1, then one per iteration.</summary>
    public static IReadOnlyList<string> Models(int iterations) => ["sft", .. Enumerable.Range(1, iterations + 1).Select(t => $"m{t}")];

    /// <summary>The evaluation of every model, computing those not yet stored.</summary>
    public IReadOnlyList<ModelEvaluation> EvaluateAll(CancellationToken cancel = default) =>
        Models(run.Config.Iterations).Select(model => Evaluate(model, cancel)).ToList();

    /// <summary>One model's evaluation: read when stored, otherwise measured and stored.</summary>
    public ModelEvaluation Evaluate(string model, CancellationToken cancel = default)
    {
        string path = Path.Combine(folder, model + ".json");
        if (File.Exists(path))
        {
            run.Log.WriteLine($"evaluation {model}: done, skipped");
            return JsonSerializer.Deserialize<ModelEvaluation>(File.ReadAllText(path), Json)
                   ?? throw new InvalidDataException($"{path}: empty evaluation");
        }
        run.Log.WriteLine($"evaluation {model}: answering {evalPrompts} held-out prompts and judging the held-out ranked sets");
        using var loaded = run.LoadModel(model);
        using var generator = new Generator(loaded, run.StopIds, run.Config.GenerationRows);
        // Greedy, as a deterministic single answer per prompt, with the budget the loop's answers have.
        var greedy = new SamplingOptions { Temperature = 0, TopP = 1, MaxTokens = run.Config.CandidateSampling.MaxTokens };
        var sampled = run.Config.CandidateSampling with { Seed = run.SeedOf($"eval/{model}/sampled") };
        var evaluation = new ModelEvaluation(model, Answer($"eval {model} answers", generator, greedy, cancel),
            Answer($"eval {model} sampled answers", generator, sampled, cancel), Judge(model, generator, cancel));
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(evaluation, Json));
        return evaluation;
    }

    /// <summary>The oracle's score of every response of the held-out ranked sets, in file order.</summary>
    /// <exception cref="InvalidDataException">A set's prompt is not a task of the world.</exception>
    public static IReadOnlyList<IReadOnlyList<int>> OracleScores(WorldDataFiles files) =>
        Jsonl.ReadAll<EftRecord>(files.EftEval).Records.Select(r =>
        {
            if (!InstructionWorld.TryParse(r.Prompt, out WorldTask? task))
                throw new InvalidDataException($"{files.EftEval}: \"{r.Prompt}\" is not a prompt of the world");
            return (IReadOnlyList<int>)r.Responses.Select(x => Oracle.Grade(task, x.Text).Score).ToList();
        }).ToList();

    private List<EvaluatedAnswer> Answer(string label, Generator generator, SamplingOptions sampling, CancellationToken cancel)
    {
        var prompts = Jsonl.ReadAll<PromptRecord>(files.EvalPrompts).Records.Take(evalPrompts).ToList();
        var answers = new List<EvaluatedAnswer>();
        run.Progress.Start(prompts.Count, label);
        for (int start = 0; start < prompts.Count; start += run.Config.GenerationRows)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = prompts.Skip(start).Take(run.Config.GenerationRows).ToList();
            var requests = batch.Select((p, i) => new GenerationRequest(start + i, run.Template.Render(p.Prompt).PromptIds)).ToList();
            var outputs = run.Generate(generator, requests, sampling);
            for (int i = 0; i < batch.Count; i++)
            {
                if (!InstructionWorld.TryParse(batch[i].Prompt, out WorldTask? task))
                    throw new InvalidDataException($"{files.EvalPrompts}: {batch[i].Id}: not a prompt of the world");
                var (text, finish) = outputs[i][0];
                OracleGrade grade = Oracle.Grade(task, text);
                answers.Add(new EvaluatedAnswer(batch[i].Id, batch[i].Prompt, text, finish, grade.Score, grade.Correct));
            }
            run.Progress.Report(new Reporting.ProgressUpdate(start + batch.Count));
        }
        run.Progress.Finish();
        return answers;
    }

    private List<IReadOnlyList<double?>> Judge(string model, Generator generator, CancellationToken cancel)
    {
        var sets = Jsonl.ReadAll<EftRecord>(files.EftEval).Records;
        var jobs = sets.SelectMany((set, s) => set.Responses.Select((_, r) => (Set: s, Response: r))).ToList();
        var sampling = run.Config.JudgeSampling with { Seed = run.SeedOf($"eval/{model}/judge") };
        int k = run.Config.JudgeSamples, stride = sets.Count == 0 ? 1 : sets.Max(s => s.Responses.Count);
        var scores = sets.Select(s => new double?[s.Responses.Count]).ToList();
        // Enough jobs per batch to fill the generator's rows, since every job asks for k samples.
        int perBatch = Math.Max(1, run.Config.GenerationRows / k);
        run.Progress.Start(jobs.Count, $"eval {model} judge");
        for (int start = 0; start < jobs.Count; start += perBatch)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = jobs.Skip(start).Take(perBatch).ToList();
            var requests = new List<GenerationRequest>();
            var fits = new List<bool>();
            foreach (var (s, r) in batch)
            {
                var ids = run.Template.Render(run.Judge.Render(sets[s].Prompt, sets[s].Responses[r].Text)).PromptIds;
                fits.Add(ids.Count < run.ModelConfig.MaxPositionEmbeddings);
                if (fits[^1]) requests.Add(new GenerationRequest((long)s * stride + r, ids, k));
            }
            var outputs = run.Generate(generator, requests, sampling);
            int next = 0;
            for (int i = 0; i < batch.Count; i++)
                if (fits[i]) scores[batch[i].Set][batch[i].Response] = JudgeScore.Summarize(outputs[next++].Select(o => JudgeScore.Parse(o.Text))).Mean;
            run.Progress.Report(new Reporting.ProgressUpdate(start + batch.Count));
        }
        run.Progress.Finish();
        return [.. scores];
    }
}
