using System.Text;
using FastSelfReward.Data;
using FastSelfReward.Generation;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Data;

public sealed class JsonlTests
{
    [Fact]
    public void RecordsRoundTripWithSnakeCaseFieldNames()
    {
        using var scratch = new ScratchFolder();
        string pairs = scratch.File("pairs.jsonl"), candidates = scratch.File("candidates.jsonl"), judgments = scratch.File("judgments.jsonl");
        Jsonl.WriteAll(pairs, [new PairRecord("p", "good", "bad", 4.5, 1)]);
        Jsonl.WriteAll(candidates, [new CandidatesRecord("7", "p", ["a", "b"], [FinishReason.Stop, FinishReason.Length])]);
        Jsonl.WriteAll(judgments, [new JudgmentRecord("7", 1, [new JudgeSample("Score: 4", 4), new JudgeSample("none", null)], 4)]);

        Assert.Equal("""{"prompt":"p","chosen":"good","rejected":"bad","score_chosen":4.5,"score_rejected":1}""" + "\n", File.ReadAllText(pairs));
        Assert.Contains("\"finish_reasons\":[\"stop\",\"length\"]", File.ReadAllText(candidates));
        Assert.Contains("{\"text\":\"none\",\"score\":null}", File.ReadAllText(judgments));

        var pair = Assert.Single(Jsonl.ReadAll<PairRecord>(pairs).Records);
        Assert.Equal(new PairRecord("p", "good", "bad", 4.5, 1), pair);
        var c = Assert.Single(Jsonl.ReadAll<CandidatesRecord>(candidates).Records);
        Assert.Equal([FinishReason.Stop, FinishReason.Length], c.FinishReasons);
        var j = Assert.Single(Jsonl.ReadAll<JudgmentRecord>(judgments).Records);
        Assert.Null(j.Samples[1].Score);
        Assert.Equal(4, j.Samples[0].Score);
    }

    [Fact]
    public void NonAsciiTextIsWrittenReadably()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("ift.jsonl");
        Jsonl.WriteAll(path, [new IftRecord("Wie geht's? 日本語", "gut \"quoted\"\nnext")]);
        Assert.Contains("日本語", File.ReadAllText(path));
        Assert.Equal("gut \"quoted\"\nnext", Jsonl.ReadAll<IftRecord>(path).Records.Single().Response);
    }

    [Fact]
    public void SkipModeReportsFileLineAndFieldOfEveryBadRecord()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("ift.jsonl");
        var bytes = new List<byte>();
        bytes.AddRange("\uFEFF"u8.ToArray());                                               // BOM before line 1
        bytes.AddRange("""{"prompt":"one","response":"r"}"""u8.ToArray()); bytes.AddRange("\r\n"u8.ToArray()); // 1: CRLF
        bytes.AddRange("\n   \t\n"u8.ToArray());                                            // 2, 3: blank
        bytes.AddRange("""{"prompt":3,"response":"r"}"""u8.ToArray()); bytes.Add((byte)'\n');      // 4: wrong type
        bytes.AddRange("""{"prompt":"x"}"""u8.ToArray()); bytes.Add((byte)'\n');                   // 5: missing field
        bytes.AddRange("""{"prompt":null,"response":"r"}"""u8.ToArray()); bytes.Add((byte)'\n');   // 6: null field
        bytes.AddRange(Encoding.UTF8.GetBytes("{\"prompt\":\"bad ")); bytes.AddRange([0xC3, 0x28]);              // 7: invalid UTF-8
        bytes.AddRange(Encoding.UTF8.GetBytes("\",\"response\":\"r\"}")); bytes.Add((byte)'\n');
        bytes.AddRange("""{"prompt":"two","response":"r"}"""u8.ToArray()); bytes.Add((byte)'\n'); // 8: fine
        bytes.AddRange("""["not","an","object"]"""u8.ToArray()); bytes.Add((byte)'\n');         // 9: array
        bytes.AddRange("null\n"u8.ToArray());                                               // 10: null
        bytes.AddRange("""{"prompt":" ","response":"r"}"""u8.ToArray()); bytes.Add((byte)'\n');   // 11: blank prompt
        bytes.AddRange("""{"prompt":"a","prompt":"b","response":"r"}"""u8.ToArray()); bytes.Add((byte)'\n'); // 12: duplicate
        bytes.AddRange("""{"prompt":"three","resp"""u8.ToArray());                               // 13: truncated, no newline
        File.WriteAllBytes(path, bytes.ToArray());

        var result = Jsonl.ReadAll<IftRecord>(path, JsonlErrorMode.Skip);

        Assert.Equal(["one", "two"], result.Records.Select(r => r.Prompt));
        Assert.Equal(9, result.Skipped);
        Assert.Equal([4L, 5, 6, 7, 9, 10, 11, 12, 13], result.Errors.Select(e => e.Line));
        Assert.All(result.Errors, e => Assert.Equal(path, e.File));
        JsonlError Line(long n) => result.Errors.Single(e => e.Line == n);
        Assert.Equal(("prompt", "has the wrong JSON type or value"), (Line(4).Field, Line(4).Message));
        Assert.Equal(("response", "missing"), (Line(5).Field, Line(5).Message));
        Assert.Equal(("prompt", "must not be null"), (Line(6).Field, Line(6).Message));
        Assert.Equal("invalid UTF-8 at byte 15", Line(7).Message);
        Assert.Equal((null, "expected a JSON object"), (Line(9).Field, Line(9).Message));
        Assert.Equal("expected a JSON object, got null", Line(10).Message);
        Assert.Equal(("prompt", "must not be empty"), (Line(11).Field, Line(11).Message));
        Assert.Equal(("prompt", "appears twice"), (Line(12).Field, Line(12).Message));
        Assert.StartsWith("malformed JSON at byte", Line(13).Message);
        Assert.Equal($"{path}:4: prompt: has the wrong JSON type or value", Line(4).ToString());
    }

    [Fact]
    public void StopModeThrowsAtTheFirstBadRecord()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("pairs.jsonl");
        File.WriteAllText(path, """
            {"prompt":"p","chosen":"a","rejected":"b","score_chosen":4,"score_rejected":2}
            {"prompt":"p","chosen":"a","rejected":"b","score_chosen":"4","score_rejected":2}
            {"prompt":"p","chosen":"a","rejected":"b","score_chosen":2,"score_rejected":4}
            """);
        var error = Assert.Throws<JsonlFormatException>(() => Jsonl.ReadAll<PairRecord>(path)).Error;
        Assert.Equal(2, error.Line);
        Assert.Equal("score_chosen", error.Field);
        // Records before the bad one reach the caller first.
        var seen = new List<PairRecord>();
        Assert.Throws<JsonlFormatException>(() => { foreach (var r in Jsonl.Read<PairRecord>(path)) seen.Add(r); });
        Assert.Single(seen);
        var skipped = new List<JsonlError>();
        Assert.Single(Jsonl.Read<PairRecord>(path, JsonlErrorMode.Skip, skipped.Add));
        Assert.Equal([("score_chosen", 2L), ("score_chosen", 3L)], skipped.Select(e => (e.Field, e.Line)));
    }

    [Fact]
    public void RecordRulesBeyondTypesAreChecked()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("mixed.jsonl");
        File.WriteAllText(path, """
            {"id":"1","prompt":"p","candidates":["a","b"],"finish_reasons":["stop"]}
            {"id":"2","prompt":"p","candidates":["a"],"finish_reasons":[1]}
            {"id":"3","prompt":"p","candidates":["a"],"finish_reasons":["eos"]}
            {"id":"4","prompt":"p","candidates":["a"],"finish_reasons":["length"]}
            """);
        var result = Jsonl.ReadAll<CandidatesRecord>(path, JsonlErrorMode.Skip);
        Assert.Equal("4", Assert.Single(result.Records).Id);
        Assert.Equal("finish_reasons", result.Errors[0].Field);
        Assert.Contains("1 entries for 2 candidates", result.Errors[0].Message);
        Assert.StartsWith("finish_reasons[0]", result.Errors[1].Field);
        Assert.StartsWith("finish_reasons[0]", result.Errors[2].Field);

        string judgments = scratch.File("judgments.jsonl");
        File.WriteAllText(judgments, """
            {"id":"1","candidate":0,"samples":[{"text":"Score: 7","score":7}],"mean":7}
            {"id":"1","candidate":-1,"samples":[],"mean":null}
            {"id":"1","candidate":0,"samples":[{"text":"x"}],"mean":null}
            """);
        var bad = Jsonl.ReadAll<JudgmentRecord>(judgments, JsonlErrorMode.Skip);
        Assert.Empty(bad.Records);
        Assert.Equal(["samples[0].score", "candidate", "samples[0].score"], bad.Errors.Select(e => e.Field));
        Assert.Equal(["must lie in [0, 5], got 7", "must be ≥ 0, got -1", "missing"], bad.Errors.Select(e => e.Message));

        string eft = scratch.File("eft.jsonl");
        File.WriteAllText(eft, """
            {"prompt":"p","responses":[{"text":"a","rank":0}]}
            {"prompt":"p","responses":[{"text":"a","rank":0},{"text":"b","rank":-1}]}
            {"prompt":"p","responses":[{"text":"a","rank":0},{"text":"b","rank":1,"judgment":"Score: 2"}]}
            """);
        var sets = Jsonl.ReadAll<EftRecord>(eft, JsonlErrorMode.Skip);
        Assert.Equal("Score: 2", Assert.Single(sets.Records).Responses[1].Judgment);
        Assert.Equal(["responses", "responses[1].rank"], sets.Errors.Select(e => e.Field));
    }

    [Fact]
    public void AnOverlongLineIsRejectedWithoutStoppingTheRest()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("ift.jsonl");
        string huge = $$"""{"prompt":"{{new string('x', 5000)}}","response":"r"}""";
        File.WriteAllText(path, $$"""{"prompt":"a","response":"r"}""" + "\n" + huge + "\n" + """{"prompt":"b","response":"r"}""" + "\n");

        var result = Jsonl.ReadAll<IftRecord>(path, JsonlErrorMode.Skip, maxLineBytes: 1000);

        Assert.Equal(["a", "b"], result.Records.Select(r => r.Prompt));
        Assert.Equal(2, Assert.Single(result.Errors).Line);
        Assert.Contains("longer than 1000 bytes", result.Errors[0].Message);
        // Under the default limit the same line reads, including lines that span read chunks.
        string longer = $$"""{"prompt":"{{new string('y', 300_000)}}","response":"r"}""";
        File.WriteAllText(path, huge + "\n" + longer);
        Assert.Equal([5000, 300_000], Jsonl.ReadAll<IftRecord>(path).Records.Select(r => r.Prompt.Length));
        // An overlong line that spans several read chunks is skipped as one line.
        File.WriteAllText(path, longer + "\n" + huge + "\n");
        var spanning = Jsonl.ReadAll<IftRecord>(path, JsonlErrorMode.Skip, maxLineBytes: 100_000);
        Assert.Equal(5000, Assert.Single(spanning.Records).Prompt.Length);
        Assert.Equal(1, Assert.Single(spanning.Errors).Line);
    }

    [Fact]
    public void EmptyFileHasNoRecords()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("empty.jsonl");
        File.WriteAllBytes(path, []);
        Assert.Empty(Jsonl.ReadAll<IftRecord>(path).Records);
    }

    [Fact]
    public void WriteAllReplacesAtomicallyAndLeavesNoTemporaryFile()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("sub/ift.jsonl");
        Jsonl.WriteAll(path, [new IftRecord("old", "r")]);
        Jsonl.WriteAll(path, [new IftRecord("new", "r"), new IftRecord("newer", "r")]);
        Assert.Equal(["new", "newer"], Jsonl.ReadAll<IftRecord>(path).Records.Select(r => r.Prompt));

        IEnumerable<IftRecord> Failing()
        {
            yield return new IftRecord("partial", "r");
            throw new InvalidOperationException("generation failed");
        }
        Assert.Throws<InvalidOperationException>(() => Jsonl.WriteAll(path, Failing()));
        Assert.Equal(["new", "newer"], Jsonl.ReadAll<IftRecord>(path).Records.Select(r => r.Prompt));
        Assert.Equal(["ift.jsonl"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void AppenderAddsBatchesAndRepairsATornTail()
    {
        using var scratch = new ScratchFolder();
        string path = scratch.File("prompts.jsonl");
        using (var appender = JsonlAppender<PromptRecord>.Open(path))
        {
            Assert.Equal(0, appender.TruncatedBytes);
            appender.Append([new PromptRecord("0", "first", "ift"), new PromptRecord("1", "second", "ift")]);
            // Visible to readers as soon as Append returns.
            Assert.Equal(2, Jsonl.ReadAll<PromptRecord>(path).Records.Count);
        }
        // A kill mid-write leaves part of a record after the last newline.
        File.AppendAllText(path, """{"id":"2","prom""", Encoding.UTF8);
        using (var appender = JsonlAppender<PromptRecord>.Open(path))
        {
            Assert.Equal(15, appender.TruncatedBytes);
            appender.Append([new PromptRecord("2", "third", "self-instruct")]);
        }
        Assert.Equal(["0", "1", "2"], Jsonl.ReadAll<PromptRecord>(path).Records.Select(r => r.Id));

        // A file that is one torn line becomes empty.
        string torn = scratch.File("torn.jsonl");
        File.WriteAllText(torn, """{"id":"0""");
        using (var appender = JsonlAppender<PromptRecord>.Open(torn)) Assert.Equal(8, appender.TruncatedBytes);
        Assert.Equal(0, new FileInfo(torn).Length);
    }
}
