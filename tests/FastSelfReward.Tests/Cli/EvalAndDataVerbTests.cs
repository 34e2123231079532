using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Tests.Text;

namespace FastSelfReward.Tests.Cli;

/// <summary>`fsr eval` and `fsr data` in-process, over a random tiny model whose context holds the judge prompts.</summary>
public sealed class EvalAndDataVerbTests : IDisposable
{
    private readonly ScratchFolder _scratch = new();
    private readonly string _model;

    public EvalAndDataVerbTests()
    {
        var folder = new ScratchFolder();
        _model = folder.Path;
        TokenizerFixture.WriteTokenizerJson(folder, TokenizerFixture.Llama2Specials, bos: "<s>", eos: "</s>");
        using var kernels = new CpuKernels();
        using var model = TinyModels.Create(kernels, TinyModels.Config(vocab: 112, maxPositions: 1536) with { BosTokenId = 110, EosTokenIds = [111] }, DType.F32);
        ModelCheckpoint.Save(model, _model);
    }

    public void Dispose()
    {
        _scratch.Dispose();
        Directory.Delete(_model, recursive: true);
    }

    private static JsonElement LastJson(string output) =>
        JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.Clone();

    [Fact]
    public void HeadToHeadCountsEveryPromptAndWritesBothJudgments()
    {
        File.WriteAllLines(_scratch.File("prompts.txt"), ["hello", "what is up", "or not"]);
        var result = CliRunner.Run("eval", "head-to-head", "--model-a", _model, "--model-b", _model, "--judge", _model,
            "--prompts", _scratch.File("prompts.txt"), "--max-tokens", "4", "--judge-max-tokens", "4", "--out", _scratch.File("h2h.jsonl"));
        Assert.True(result.ExitCode == 0, result.Error);
        var summary = LastJson(result.Out);
        int total = new[] { "wins", "ties", "losses", "invalid" }.Sum(k => summary.GetProperty(k).GetInt32());
        Assert.Equal(3, total);
        // Answers of at most 4 tokens from a random model: the ones that ran out of budget are counted, the same for A and B.
        int truncatedA = summary.GetProperty("truncated_a").GetInt32();
        Assert.InRange(truncatedA, 0, 3);
        Assert.Equal(truncatedA, summary.GetProperty("truncated_b").GetInt32());
        Assert.Contains($"answers cut at --max-tokens 4: A {truncatedA}, B {truncatedA} of 3", result.Out);
        var items = File.ReadAllLines(_scratch.File("h2h.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(["hello", "what is up", "or not"], items.Select(i => i.GetProperty("prompt").GetString()));
        // Greedy answers of one model to itself: A's and B's answers are the same text.
        Assert.All(items, i => Assert.Equal(i.GetProperty("answer_a").GetString(), i.GetProperty("answer_b").GetString()));
        Assert.All(items, i => Assert.True(i.TryGetProperty("judgment_b_first", out _)));
    }

    [Fact]
    public void RewardModelPrintsThePapersTableAndJson()
    {
        Jsonl.WriteAll(_scratch.File("eft.jsonl"), new[]
        {
            new EftRecord("Name a colour.", [new RankedResponse("Blue.", 0), new RankedResponse("Dog.", 1)]),
            new EftRecord("Say hi.", [new RankedResponse("Hi!", 0), new RankedResponse("Bye.", 1), new RankedResponse("...", 2)]),
        });
        var result = CliRunner.Run("eval", "reward-model", "--model", _model, "--eft", _scratch.File("eft.jsonl"),
            "--samples", "2", "--judge-max-tokens", "4");
        Assert.True(result.ExitCode == 0, result.Error);
        foreach (string row in new[] { "Pairwise acc.", "5-best %", "Exact Match %", "Spearman corr.", "Kendall τ corr." })
            Assert.Contains(row, result.Out);
        var json = LastJson(result.Out);
        // A random model writes no score line in four tokens: every judgment is a counted parse failure, no metric a number.
        Assert.Equal(10, json.GetProperty("parse_failures").GetInt32());
        Assert.Equal(5, json.GetProperty("unscored_responses").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("pairwise_accuracy").ValueKind);
    }

    [Fact]
    public void AlpacaEvalExportIsAJsonArrayOfInstructionOutputGenerator()
    {
        File.WriteAllLines(_scratch.File("prompts.jsonl"), ["{\"prompt\": \"hello\", \"dataset\": \"x\"}", "{\"prompt\": \"or not\"}"]);
        var result = CliRunner.Run("data", "alpacaeval", "--model", _model, "--prompts", _scratch.File("prompts.jsonl"),
            "--out", _scratch.File("outputs.json"), "--generator", "tiny", "--max-tokens", "4");
        Assert.True(result.ExitCode == 0, result.Error);
        var array = JsonDocument.Parse(File.ReadAllText(_scratch.File("outputs.json"))).RootElement;
        Assert.Equal(JsonValueKind.Array, array.ValueKind);
        Assert.Equal(["hello", "or not"], array.EnumerateArray().Select(e => e.GetProperty("instruction").GetString()));
        Assert.All(array.EnumerateArray(), e =>
        {
            Assert.Equal("tiny", e.GetProperty("generator").GetString());
            Assert.Equal(JsonValueKind.String, e.GetProperty("output").ValueKind);
        });
        // The dataset of a prompt goes with its answer; a prompt without one has none.
        Assert.Equal("x", array[0].GetProperty("dataset").GetString());
        Assert.False(array[1].TryGetProperty("dataset", out _));
    }

    [Fact]
    public void AlpacaEvalsOwnPromptFileGoesInAndItsDatasetsComeOut()
    {
        File.WriteAllText(_scratch.File("alpaca_eval.json"), """
            [{"instruction": "hello", "output": "ref", "generator": "gpt4_turbo", "dataset": "helpful_base"},
             {"instruction": "or not", "output": "ref", "generator": "gpt4_turbo", "dataset": "koala"}]
            """);
        var result = CliRunner.Run("data", "alpacaeval", "--model", _model, "--prompts", _scratch.File("alpaca_eval.json"),
            "--out", _scratch.File("outputs.json"), "--max-tokens", "4");
        Assert.True(result.ExitCode == 0, result.Error);
        var array = JsonDocument.Parse(File.ReadAllText(_scratch.File("outputs.json"))).RootElement;
        Assert.Equal(["hello", "or not"], array.EnumerateArray().Select(e => e.GetProperty("instruction").GetString()));
        Assert.Equal(["helpful_base", "koala"], array.EnumerateArray().Select(e => e.GetProperty("dataset").GetString()));
    }

    [Fact]
    public void OasstWritesTheSplitsAndTheEvalPrompts()
    {
        File.WriteAllLines(_scratch.File("t.trees.jsonl"),
        [
            """{"message_tree_id":"t1","prompt":{"text":"What is 2+2?","role":"prompter","lang":"en","replies":[{"text":"4","role":"assistant","lang":"en","rank":0},{"text":"5","role":"assistant","lang":"en","rank":1}]}}""",
            """{"message_tree_id":"t2","prompt":{"text":"Hallo?","role":"prompter","lang":"de","replies":[]}}""",
        ]);
        string output = _scratch.File("oasst");
        var result = CliRunner.Run("data", "oasst", "--trees", _scratch.File("t.trees.jsonl"), "--lang", "en", "--out", output, "--eval-fraction", "1");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("2 trees", result.Out);
        Assert.Contains("1 in another language", result.Out);
        Assert.Equal([("What is 2+2?", "4")], Jsonl.ReadAll<IftRecord>(Path.Combine(output, "ift_eval.jsonl")).Records.Select(r => (r.Prompt, r.Response)));
        Assert.Single(Jsonl.ReadAll<EftRecord>(Path.Combine(output, "eft_eval.jsonl")).Records);
        Assert.Empty(Jsonl.ReadAll<IftRecord>(Path.Combine(output, "ift_train.jsonl")).Records);
        Assert.Equal(["What is 2+2?"], PromptFile.Read(Path.Combine(output, "eval_prompts.jsonl")));
    }

    [Theory]
    [InlineData("fsr eval: unknown mode 'nonsense' (modes: head-to-head, reward-model)", "eval", "nonsense")]
    [InlineData("fsr data: needs a mode (modes: oasst, alpacaeval)", "data")]
    [InlineData("fsr data: the mode comes right after the verb: fsr data oasst [options]", "data", "--threads", "1", "oasst")]
    [InlineData("fsr data oasst: needs --trees FILE", "data", "oasst", "--out", "x")]
    [InlineData("fsr eval head-to-head: needs --model-b DIR", "eval", "head-to-head", "--model-a", "a")]
    [InlineData("fsr eval reward-model: --judge-max-tokens must be positive", "eval", "reward-model", "--judge-max-tokens", "0")]
    public void MissingOrUnknownArgumentsAreUsageErrors(string expected, params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(expected, result.Error);
    }

    [Theory]
    [InlineData("data", "oasst", "eval-fraction", "generator")]
    [InlineData("data", "alpacaeval", "generator", "eval-fraction")]
    [InlineData("eval", "head-to-head", "model-a", "samples")]
    [InlineData("eval", "reward-model", "samples", "model-a")]
    public void AModesHelpShowsItsOwnOptionsOnStandardOutput(string verb, string mode, string own, string others)
    {
        var result = CliRunner.Run(verb, mode, "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        Assert.Contains($"fsr {verb} {mode} [options]:", result.Out);
        Assert.Contains(own, result.Out);
        Assert.DoesNotContain(others, result.Out);
    }

    [Theory]
    [InlineData("data", "--help")]
    [InlineData("help", "data")]
    [InlineData("eval", "-h")]
    public void AVerbsHelpListsItsModes(params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(0, result.ExitCode);
        string[] modes = args.Contains("eval") ? ["head-to-head", "reward-model"] : ["oasst", "alpacaeval"];
        Assert.All(modes, mode => Assert.Contains("  " + mode + " ", result.Out));
        Assert.Contains("MODE --help", result.Out);
        Assert.DoesNotContain("--trees", result.Out);
    }
}
