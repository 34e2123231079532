using System.Text;
using FastSelfReward.Data;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Data;

public sealed class OasstConverterTests
{
    // Hand-written trees in the oasst1/oasst2 export's shape (extra fields as the real files carry them).
    private const string Trees = """
        {"message_tree_id":"t-math","tree_state":"ready_for_export","prompt":{"message_id":"m1","text":"What is 2+2?","role":"prompter","lang":"en","deleted":false,"review_result":true,"synthetic":false,"replies":[{"message_id":"m2","text":"Four.","role":"assistant","lang":"en","rank":1,"deleted":false,"review_result":true,"replies":[]},{"message_id":"m3","text":"2+2 is 4.","role":"assistant","lang":"en","rank":0,"deleted":false,"review_result":true,"replies":[{"message_id":"m4","text":"And 3+3?","role":"prompter","lang":"en","deleted":false,"review_result":true,"replies":[{"message_id":"m5","text":"6","role":"assistant","lang":"en","rank":0,"deleted":false,"review_result":true,"replies":[]}]}]},{"message_id":"m6","text":"spam","role":"assistant","lang":"en","rank":2,"deleted":true,"review_result":true,"replies":[]},{"message_id":"m7","text":"bad","role":"assistant","lang":"en","rank":3,"deleted":false,"review_result":false,"replies":[]},{"message_id":"m8","text":"Quatre.","role":"assistant","lang":"fr","rank":4,"deleted":false,"review_result":true,"replies":[]},{"message_id":"m9","text":"It is 4, unranked.","role":"assistant","lang":"en","rank":null,"deleted":false,"review_result":null,"replies":[]}]}}
        {"message_tree_id":"t-de","prompt":{"message_id":"d1","text":"Wie spät ist es?","role":"prompter","lang":"de","deleted":false,"review_result":true,"replies":[{"message_id":"d2","text":"Keine Ahnung.","role":"assistant","lang":"de","rank":0,"deleted":false,"review_result":true,"replies":[]}]}}
        {"message_tree_id":"t-gone","prompt":{"message_id":"g1","text":"Deleted prompt","role":"prompter","lang":"en","deleted":true,"review_result":true,"replies":[{"message_id":"g2","text":"x","role":"assistant","lang":"en","rank":0,"deleted":false,"review_result":true,"replies":[]}]}}
        {"message_tree_id":"t-failed","prompt":{"message_id":"f1","text":"Failed review","role":"prompter","lang":"EN","deleted":false,"review_result":false,"replies":[]}}

        {"message_tree_id":"t-nobest","prompt":{"message_id":"n1","text":"Name a colour.","role":"prompter","lang":"en","deleted":false,"review_result":true,"replies":[{"message_id":"n2","text":"Blue.","role":"assistant","lang":"en","rank":2,"deleted":false,"review_result":true,"replies":[]},{"message_id":"n3","text":"Red.","role":"assistant","lang":"en","rank":0,"deleted":true,"review_result":true,"replies":[]},{"message_id":"n4","text":"Green.","role":"assistant","lang":"en","rank":1,"deleted":false,"review_result":true,"replies":[]}]}}
        {"message_tree_id":"t-single","prompt":{"message_id":"s1","text":"Say hi.","role":"prompter","lang":"en","deleted":false,"review_result":true,"replies":[{"message_id":"s2","text":"Hi!","role":"assistant","lang":"en","rank":0,"deleted":false,"review_result":true,"replies":[]}]}}
        """;

    [Fact]
    public void FirstTurnDataOfOneLanguageWithTheHumanRanks()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("sample.trees.jsonl");
        File.WriteAllText(path, Trees);

        var result = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 0 });

        Assert.Empty(result.Eval.Ift);
        Assert.Empty(result.Eval.Eft);
        Assert.Equal([("What is 2+2?", "2+2 is 4."), ("Say hi.", "Hi!")], result.Train.Ift.Select(r => (r.Prompt, r.Response)));
        Assert.Equal(2, result.Train.Eft.Count);
        var math = result.Train.Eft[0];
        Assert.Equal("What is 2+2?", math.Prompt);
        // Best rank first; deleted, failed-review, other-language and unranked answers are gone; nested turns unused.
        Assert.Equal([("2+2 is 4.", 0), ("Four.", 1)], math.Responses.Select(r => (r.Text, r.Rank)));
        var colour = result.Train.Eft[1];
        Assert.Equal([("Green.", 1), ("Blue.", 2)], colour.Responses.Select(r => (r.Text, r.Rank)));
        Assert.Equal(new OasstStats(Trees: 6, SkippedLines: 0, OtherLanguage: 1, RemovedPrompts: 2, RemovedReplies: 4, WithoutBestReply: 1, TooFewRanked: 1), result.Stats);

        var german = OasstConverter.Convert(path, new OasstOptions { Lang = "de", EvalFraction = 0 });
        Assert.Equal(("Wie spät ist es?", "Keine Ahnung."), (german.Train.Ift.Single().Prompt, german.Train.Ift.Single().Response));
    }

    [Fact]
    public void WrittenFilesReadBackAsRecords()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("sample.trees.jsonl");
        File.WriteAllText(path, Trees);
        var result = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 1 });
        result.WriteTo(scratch.File("out"));
        Assert.Equal(2, Jsonl.ReadAll<IftRecord>(scratch.File("out/ift_eval.jsonl")).Records.Count);
        Assert.Equal(2, Jsonl.ReadAll<EftRecord>(scratch.File("out/eft_eval.jsonl")).Records.Count);
        Assert.Empty(Jsonl.ReadAll<IftRecord>(scratch.File("out/ift_train.jsonl")).Records);
        Assert.Empty(Jsonl.ReadAll<EftRecord>(scratch.File("out/eft_train.jsonl")).Records);
    }

    [Fact]
    public void TheSplitIsByTreeDeterministicAndSeeded()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("many.trees.jsonl");
        var text = new StringBuilder();
        for (int t = 0; t < 400; t++)
            text.AppendLine($$$"""{"message_tree_id":"tree-{{{t}}}","prompt":{"text":"prompt {{{t}}}","role":"prompter","lang":"en","replies":[{"text":"best {{{t}}}","role":"assistant","lang":"en","rank":0},{"text":"next {{{t}}}","role":"assistant","lang":"en","rank":1}]}}""");
        File.WriteAllText(path, text.ToString());

        var a = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 0.25, Seed = 1 });
        var again = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 0.25, Seed = 1 });
        var other = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 0.25, Seed = 2 });

        Assert.InRange(a.Eval.Ift.Count, 70, 130);
        Assert.Equal(400, a.Train.Ift.Count + a.Eval.Ift.Count);
        Assert.Equal(a.Eval.Ift.Select(r => r.Prompt), again.Eval.Ift.Select(r => r.Prompt));
        Assert.NotEqual(a.Eval.Ift.Select(r => r.Prompt), other.Eval.Ift.Select(r => r.Prompt));
        // A tree's IFT example and EFT set land in the same split.
        Assert.Equal(a.Eval.Ift.Select(r => r.Prompt), a.Eval.Eft.Select(r => r.Prompt));
        Assert.Empty(a.Train.Ift.Select(r => r.Prompt).Intersect(a.Eval.Ift.Select(r => r.Prompt)));
    }

    [Fact]
    public void DeepThreadsParse()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("deep.trees.jsonl");
        string nested = """{"text":"leaf","role":"assistant","lang":"en","rank":0,"replies":[]}""";
        for (int depth = 0; depth < 100; depth++)
            nested = $$"""{"text":"turn {{depth}}","role":"{{(depth % 2 == 0 ? "prompter" : "assistant")}}","lang":"en","rank":0,"replies":[{{nested}}]}""";
        File.WriteAllText(path, $$$"""{"message_tree_id":"deep","prompt":{"text":"root","role":"prompter","lang":"en","replies":[{{{nested.Replace("\"role\":\"prompter\"", "\"role\":\"assistant\"")}}}]}}""");
        var result = OasstConverter.Convert(path, new OasstOptions { EvalFraction = 0 });
        Assert.Equal("root", result.Train.Ift.Single().Prompt);
    }

    [Fact]
    public void MalformedTreesStopOrAreCounted()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("bad.trees.jsonl");
        File.WriteAllText(path, Trees.Split('\n')[0] + "\n" + """{"message_tree_id":"x","prompt":{"role":"prompter"}}""" + "\n{\"message_tree_id\":\n");
        var error = Assert.Throws<JsonlFormatException>(() => OasstConverter.Convert(path)).Error;
        Assert.Equal((2L, "prompt.text", "missing"), (error.Line, error.Field, error.Message));
        var skipped = OasstConverter.Convert(path, new OasstOptions { ErrorMode = JsonlErrorMode.Skip, EvalFraction = 0 });
        Assert.Equal((1, 2), (skipped.Stats.Trees, skipped.Stats.SkippedLines));
        Assert.Single(skipped.Train.Ift);
    }
}
