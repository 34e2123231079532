namespace FastSelfReward.Tests.Cli;

public class UsageTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("help")]
    [InlineData("generate", "--help")]
    [InlineData("train-lm", "--help")]
    public void HelpGoesToStandardOutputWithExitCodeZero(params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("fsr", result.Out);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public void VersionIsOneLine()
    {
        var result = CliRunner.Run("--version");
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^fsr \d+\.\d+\.\d+$", result.Out.Trim());
    }

    [Fact]
    public void VerbListNamesEveryVerb()
    {
        string help = CliRunner.Run("--help").Out;
        foreach (string verb in new[] { "info", "train-lm", "generate" })
            Assert.Contains(verb, help);
    }

    [Theory]
    [InlineData("fsr iterate: unknown option '--confg'", "iterate", "--confg", "run.json", "--run", "r")]
    [InlineData("fsr iterate: missing --run", "iterate")]
    [InlineData("fsr: unknown verb 'iterat'", "iterat")]
    [InlineData("fsr generate: --max-tokens: the value is not of the expected kind", "generate", "--model", "m", "--max-tokens", "many", "--prompt", "x")]
    public void ParserErrorsSayWhatWasWrongBeforeAnythingElse(string first, params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(first, result.Error);
        Assert.DoesNotContain("Required.", result.Error);
    }

    [Fact]
    public void HelpNamesOptionsAsTheyAreTyped()
    {
        string help = CliRunner.Run("iterate", "--help").Out;
        Assert.Contains("--run ", help);
        Assert.Contains("--config ", help);
    }

    [Theory]
    [InlineData("no-such-verb")]
    [InlineData("generate", "--prompt", "hi")]                                  // --model is required
    [InlineData("generate", "--model", "m", "--no-such-option")]
    [InlineData("generate", "--model", "m", "--max-tokens", "many", "--prompt", "x")]
    public void ParserErrorsExitWithTwo(params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.NotEqual("", result.Error);
    }

    [Theory]
    [InlineData("--temperature must be a finite value ≥ 0, got -1", "generate", "--model", "m", "--prompt", "x", "--temperature", "-1")]
    [InlineData("--top-p must lie in (0, 1], got 0", "generate", "--model", "m", "--prompt", "x", "--top-p", "0")]
    [InlineData("give either --prompt or --prompts", "generate", "--model", "m")]
    [InlineData("give --steps or --epochs, not both", "train-lm", "--data", "d", "--tokenizer", "t", "--out", "o", "--steps", "3", "--epochs", "2")]
    [InlineData("--lr must be positive, got -1", "train-lm", "--data", "d", "--tokenizer", "t", "--out", "o", "--lr", "-1")]
    [InlineData("--batch-tokens must be positive, got 0", "train-lm", "--data", "d", "--tokenizer", "t", "--out", "o", "--batch-tokens", "0")]
    [InlineData("--split must be 'paragraphs' or 'windows'", "train-lm", "--data", "d", "--tokenizer", "t", "--out", "o", "--split", "lines")]
    [InlineData("--threads must be positive", "info", "--threads", "0")]
    public void UnusableValuesExitWithTwoAndSayWhy(string message, params string[] args)
    {
        var result = CliRunner.Run(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Fact]
    public void MissingCheckpointFolderFailsWithOneNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "fsr-no-such-model-" + Guid.NewGuid().ToString("N"));
        var result = CliRunner.Run("generate", "--model", missing, "--prompt", "x");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"fsr generate: {missing}: no such checkpoint folder", result.Error.Trim());
    }

    [Fact]
    public void InfoPrintsTheBackend()
    {
        var result = CliRunner.Run("info");
        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("backend: cpu", result.Out);
    }
}
