using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Tests.Text;

namespace FastSelfReward.Tests.Cli;

public sealed class GenerateVerbTests : IDisposable
{
    private readonly ScratchFolder _model = new();

    /// <summary>A random tiny model over the fixture tokenizer (112 ids, &lt;s&gt; and &lt;/s&gt; as BOS/EOS), saved as a checkpoint folder.</summary>
    public GenerateVerbTests()
    {
        TokenizerFixture.WriteTokenizerJson(_model, TokenizerFixture.Llama2Specials, bos: "<s>", eos: "</s>");
        using var kernels = new CpuKernels();
        using var model = TinyModels.Create(kernels, TinyModels.Config(vocab: 112) with { BosTokenId = 110, EosTokenIds = [111] }, DType.F32);
        ModelCheckpoint.Save(model, _model.Path);
    }

    public void Dispose() => _model.Dispose();

    private CliRunner.Result Generate(params string[] extra) =>
        CliRunner.Run(["generate", "--model", _model.Path, "--max-tokens", "10", .. extra]);

    private static List<JsonElement> Records(string jsonl) =>
        jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();

    [Fact]
    public void GreedyGenerationIsDeterministic()
    {
        var first = Generate("--prompt", "hello world", "--temperature", "0", "--json");
        var second = Generate("--prompt", "hello world", "--temperature", "0", "--json", "--seed", "99");
        Assert.Equal(0, first.ExitCode);
        Assert.Equal(first.Out, second.Out);
        var record = Assert.Single(Records(first.Out));
        Assert.Equal("hello world", record.GetProperty("prompt").GetString());
        Assert.Contains(record.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        Assert.NotEqual("", record.GetProperty("completion").GetString());
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void APromptCompletesTheSameAloneAndInABatch()
    {
        File.WriteAllLines(_model.File("prompts.txt"), ["hello", "", "hello world", "or"]);
        var batch = Records(Generate("--prompts", _model.File("prompts.txt"), "--temperature", "0", "--json").Out);
        Assert.Equal(["hello", "hello world", "or"], batch.Select(r => r.GetProperty("prompt").GetString()));
        var alone = Assert.Single(Records(Generate("--prompt", "hello world", "--temperature", "0", "--json").Out));
        Assert.Equal(alone.GetRawText(), batch[1].GetRawText());
    }

    [Fact]
    public void SampledGenerationDependsOnTheSeedOnly()
    {
        string[] args = ["--prompt", "hello", "--temperature", "1", "--top-p", "1"];
        var a = Generate([.. args, "--seed", "5"]);
        var b = Generate([.. args, "--seed", "5"]);
        var c = Generate([.. args, "--seed", "6"]);
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(a.Out, b.Out);
        Assert.NotEqual(a.Out, c.Out);
    }

    [Fact]
    public void JsonlPromptsAndChatTemplate()
    {
        File.WriteAllLines(_model.File("prompts.jsonl"), ["{\"prompt\": \"hello\"}", "{\"prompt\": \"or\", \"id\": 7}"]);
        var result = Generate("--prompts", _model.File("prompts.jsonl"), "--chat", "--template", "llama2", "--temperature", "0", "--json");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["hello", "or"], Records(result.Out).Select(r => r.GetProperty("prompt").GetString()));
    }

    [Fact]
    public void BadPromptsRecordNamesFileAndLine()
    {
        File.WriteAllLines(_model.File("prompts.jsonl"), ["{\"prompt\": \"hello\"}", "{\"text\": \"no prompt\"}"]);
        var result = Generate("--prompts", _model.File("prompts.jsonl"));
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"fsr generate: {_model.File("prompts.jsonl")}:2: ", result.Error);
        Assert.Contains("prompt", result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Fact]
    public void RedirectedProgressIsPlainLines()
    {
        var result = Generate("--prompt", "hello", "--temperature", "0");
        Assert.Matches(@"^generate 1/1 \| \d+ tok/s \| took \d+s$", result.Error.Trim());
        Assert.DoesNotContain("\u001b", result.Error);
    }
}
