using System.Text.Json;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.World;

namespace FastSelfReward.Tests.World;

public class WorldDataTests
{
    private static readonly WorldDataOptions Small = new()
    {
        Seed = 5, CorpusDocuments = 1500, IftExamples = 600, EftTrainPrompts = 120, EftEvalPrompts = 40,
    };

    private static List<JsonElement> Read(string path) =>
        File.ReadLines(path).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();

    [Fact]
    public void Files_are_byte_identical_for_a_seed_and_differ_across_seeds()
    {
        using var a = new ScratchFolder();
        using var b = new ScratchFolder();
        using var c = new ScratchFolder();
        WorldDataFiles fa = WorldData.Write(a.Path, Small);
        WorldData.Write(b.Path, Small);
        WorldData.Write(c.Path, Small with { Seed = 6 });
        foreach (string name in new[] { "corpus.jsonl", "ift.jsonl", "eft_train.jsonl", "eft_eval.jsonl", "eval_prompts.jsonl" })
        {
            Assert.Equal(File.ReadAllBytes(a.File(name)), File.ReadAllBytes(b.File(name)));
            Assert.NotEqual(File.ReadAllBytes(a.File(name)), File.ReadAllBytes(c.File(name)));
        }
        Assert.Equal(a.File("ift.jsonl"), fa.Ift);
        Assert.Empty(Directory.GetFiles(a.Path, "*.tmp"));
    }

    [Fact]
    public void Evaluation_prompts_appear_in_no_training_file()
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, Small);
        List<string> eval = Read(files.EvalPrompts).Select(e => e.GetProperty("prompt").GetString()!).ToList();
        Assert.Equal(256, eval.Count);
        Assert.All(eval, p => Assert.True(InstructionWorld.TryParse(p, out _)));

        // Every string in every training file, decoded from JSON (prompts, responses, documents, justifications).
        var texts = new List<string>();
        foreach (string path in new[] { files.Corpus, files.Ift, files.EftTrain, files.EftEval })
            foreach (JsonElement e in Read(path)) Collect(e, texts);
        string all = string.Join("\n\u0001\n", texts);
        Assert.All(eval, p => Assert.DoesNotContain(p, all, StringComparison.Ordinal));

        // The check has teeth: training files are full of prompts from the same templates.
        Assert.Contains(Read(files.Ift)[0].GetProperty("prompt").GetString()!, all, StringComparison.Ordinal);

        static void Collect(JsonElement e, List<string> into)
        {
            if (e.ValueKind == JsonValueKind.String) into.Add(e.GetString()!);
            else if (e.ValueKind == JsonValueKind.Object) foreach (JsonProperty p in e.EnumerateObject()) Collect(p.Value, into);
            else if (e.ValueKind == JsonValueKind.Array) foreach (JsonElement x in e.EnumerateArray()) Collect(x, into);
        }
    }

    [Fact]
    public void Ift_has_the_requested_size_and_only_right_answers()
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, Small);
        List<JsonElement> ift = Read(files.Ift);
        Assert.Equal(600, ift.Count);
        var scores = ift.Select(e =>
        {
            Assert.True(InstructionWorld.TryParse(e.GetProperty("prompt").GetString()!, out WorldTask? task));
            return Oracle.Grade(task, e.GetProperty("response").GetString()!).Score;
        }).ToList();
        Assert.All(scores, s => Assert.InRange(s, 3, 5));
        double perfect = scores.Count(s => s == 5) / (double)scores.Count;
        Assert.InRange(perfect, 0.7, 0.9); // ImperfectIftFraction 0.2
    }

    [Fact]
    public void Eft_sets_are_ranked_by_gold_scores_spread_over_0_to_5_and_disjoint()
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, Small);
        List<JsonElement> train = Read(files.EftTrain), eval = Read(files.EftEval);
        Assert.Equal(120, train.Count);
        Assert.Equal(40, eval.Count);
        Assert.Empty(train.Select(Prompt).Intersect(eval.Select(Prompt)));
        Assert.Equal(120, train.Select(Prompt).Distinct().Count());

        var seen = new HashSet<int>();
        foreach (JsonElement record in train.Concat(eval))
        {
            Assert.True(InstructionWorld.TryParse(Prompt(record), out WorldTask? task));
            var responses = record.GetProperty("responses").EnumerateArray().ToList();
            Assert.Equal(4, responses.Count);
            int previous = int.MaxValue;
            for (int i = 0; i < responses.Count; i++)
            {
                JsonElement r = responses[i];
                string judgment = r.GetProperty("judgment").GetString()!;
                int cut = judgment.LastIndexOf("\nScore: ", StringComparison.Ordinal);
                string justification = judgment[..cut];
                int score = int.Parse(judgment[(cut + "\nScore: ".Length)..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(i, r.GetProperty("rank").GetInt32());
                OracleGrade grade = Oracle.Grade(task, r.GetProperty("text").GetString()!);
                Assert.Equal(grade.Score, score);
                Assert.Equal(grade.Justification, justification);
                Assert.True(justification.Split(' ').Length <= 100);
                if (i > 0) Assert.True(score < previous);
                previous = score;
                seen.Add(score);
            }
        }
        Assert.Equal([0, 1, 2, 3, 4, 5], seen.Order());

        static string Prompt(JsonElement e) => e.GetProperty("prompt").GetString()!;
    }

    [Fact]
    public void Contrasting_sets_each_hold_the_perfect_answer_and_the_same_with_chatter_and_the_rest_at_random()
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, Small with { EftContrastsExtraText = true });
        var scoreSets = Read(files.EftTrain).Concat(Read(files.EftEval))
            .Select(r => r.GetProperty("responses").EnumerateArray()
                .Select(x => int.Parse(x.GetProperty("judgment").GetString()!.Split("Score: ")[^1], System.Globalization.CultureInfo.InvariantCulture)).ToList())
            .ToList();
        Assert.All(scoreSets, scores => Assert.Equal(4, scores.Distinct().Count()));
        Assert.All(scoreSets, scores => Assert.Contains(5, scores));
        Assert.All(scoreSets, scores => Assert.Contains(4, scores));
        // The other two are drawn from the four remaining qualities, each of which turns up.
        Assert.Equal([0, 1, 2, 3], scoreSets.SelectMany(s => s).Where(s => s < 4).Distinct().Order());
    }

    [Fact]
    public void Corpus_holds_worked_answers_and_numbered_task_lists()
    {
        using var dir = new ScratchFolder();
        WorldDataFiles files = WorldData.Write(dir.Path, Small);
        List<string> docs = Read(files.Corpus).Select(e => e.GetProperty("text").GetString()!).ToList();
        Assert.Equal(1500, docs.Count);
        Assert.Contains(docs, d => d.Contains("Task 1: ") && d.Contains("\nTask 3: "));
        Assert.Contains(docs, d => d.Contains("\nAnswer: "));
        Assert.Contains(docs, d => d.StartsWith("The word ", StringComparison.Ordinal) && d.Contains("Spelled out"));
    }

    [Fact]
    public void Bad_sizes_are_rejected()
    {
        using var dir = new ScratchFolder();
        Assert.Throws<ArgumentException>(() => WorldData.Write(dir.Path, Small with { ResponsesPerEftPrompt = 7 }));
        Assert.Throws<ArgumentException>(() => WorldData.Write(dir.Path, Small with { IftExamples = -1 }));
        Assert.Throws<ArgumentException>(() => WorldData.Write(dir.Path, Small with { ImperfectIftFraction = 1.5 }));
    }
}
