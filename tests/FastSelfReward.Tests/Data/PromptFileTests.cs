using FastSelfReward.Data;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Data;

public sealed class PromptFileTests : IDisposable
{
    private readonly ScratchFolder _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string Write(string text, string name = "prompts")
    {
        string path = _scratch.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void AlpacaEvalsOwnJsonArrayIsReadWithEachPromptsDataset()
    {
        // The shape of alpaca_eval.json: instruction, output, generator and dataset per entry.
        string path = Write("""
            [
              {"instruction": "What are the names of some famous actors?", "output": "...", "generator": "text_davinci_003", "dataset": "helpful_base"},
              {"instruction": "How do I wrap a present neatly?\nStep by step.", "output": "...", "generator": "text_davinci_003", "dataset": "koala"},
              {"instruction": "Hi", "dataset": null}
            ]
            """);
        Assert.Equal([new PromptEntry("What are the names of some famous actors?", "helpful_base"),
            new PromptEntry("How do I wrap a present neatly?\nStep by step.", "koala"), new PromptEntry("Hi")], PromptFile.ReadEntries(path));
        Assert.Equal(3, PromptFile.Read(path).Count);
    }

    [Fact]
    public void JsonlTakesAPromptOrAnInstructionAndPlainTextALineEach()
    {
        string jsonl = Write("\uFEFF{\"prompt\": \"one\"}\n\n{\"instruction\": \"two\", \"dataset\": \"vicuna\"}\r\n", "p.jsonl");
        Assert.Equal([new PromptEntry("one"), new PromptEntry("two", "vicuna")], PromptFile.ReadEntries(jsonl));
        string text = Write("first line\n\n  [not json] second\n", "p.txt");
        Assert.Equal(["first line", "  [not json] second"], PromptFile.Read(text));
    }

    [Theory]
    [InlineData("[1, 2]", "[0] must be an object with an \"instruction\", not the number 1")]
    [InlineData("[{\"instruction\": \"a\"}, {\"instruction\": 5}]", "[1].instruction must be a string, not the number 5")]
    [InlineData("[{\"instruction\": \"a\", \"dataset\": [\"x\"]}]", "[0].dataset must be a string, not a list")]
    [InlineData("[{\"output\": \"only an answer\"}]", "[0].prompt: missing (a \"prompt\" or an \"instruction\" string is required)")]
    [InlineData("[{\"prompt\": \"a\", \"instruction\": \"b\"}]", "[0].prompt: given twice, as \"prompt\" and as \"instruction\"; which is the prompt?")]
    [InlineData("[]", "no prompts")]
    [InlineData("[{\"instruction\": \"a\"}", ":1: the file is not valid JSON")]
    [InlineData("{\"instruction\": \"a\"}\n[1]", "")]
    public void AMalformedArrayIsNamedByFileAndEntry(string text, string expected)
    {
        string path = Write(text);
        var error = Record.Exception(() => PromptFile.ReadEntries(path));
        Assert.NotNull(error);
        Assert.True(error is InvalidDataException or JsonlFormatException, error.GetType().Name);
        Assert.StartsWith(path, error.Message);
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain("System.", error.Message);
    }

    [Fact]
    public void AJsonlRecordWithoutItsPromptIsNamedByLine()
    {
        string path = Write("{\"prompt\": \"fine\"}\n{\"dataset\": \"koala\"}\n");
        var error = Assert.Throws<JsonlFormatException>(() => PromptFile.ReadEntries(path));
        Assert.Equal(2, error.Error.Line);
        Assert.Contains("\"prompt\" or an \"instruction\"", error.Message);
    }

    [Fact]
    public void NestingBeyondTheDepthLimitIsAnErrorNotACrash()
    {
        string path = Write(new string('[', 200) + new string(']', 200));
        Assert.StartsWith($"{path}:1: the file is not valid JSON", Assert.Throws<InvalidDataException>(() => PromptFile.ReadEntries(path)).Message);
    }
}
