using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;
using FastSelfReward.Tests.Cli;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.SelfReward;

public sealed class RunInputsTests(DemoInputsFixture fixture) : IClassFixture<DemoInputsFixture>
{
    private static RunContext Open(string folder, RunConfig config, IKernels kernels, TextWriter? log = null, bool accept = false) =>
        new(folder, config, kernels, new PlainProgress(TextWriter.Null), log ?? TextWriter.Null, accept);

    /// <summary>The fixture's configuration over copies of its IFT file and M0 inside <paramref name="folder"/>, which the test may edit.</summary>
    private RunConfig WithOwnCopies(string folder)
    {
        string model = Path.Combine(folder, "m0");
        Directory.CreateDirectory(model);
        foreach (string file in Directory.GetFiles(fixture.Config.BaseModel)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        string ift = Path.Combine(folder, "ift.jsonl");
        File.Copy(fixture.Config.Ift, ift);
        return fixture.Config with { BaseModel = model, Ift = ift };
    }

    [Fact]
    public void AnInputWithOtherContentsIsRefusedNamingItUntilTheChangeIsAccepted()
    {
        string inputs = fixture.NewRunFolder(), folder = fixture.NewRunFolder();
        var config = WithOwnCopies(inputs);
        using var kernels = new CpuKernels();
        using (Open(folder, config, kernels)) { }
        Assert.True(File.Exists(Path.Combine(folder, RunInputs.FileName)));

        // Rewritten with the same contents: a newer time alone is no change.
        File.WriteAllBytes(config.Ift, File.ReadAllBytes(config.Ift));
        File.SetLastWriteTimeUtc(config.Ift, DateTime.UtcNow.AddMinutes(1));
        using (Open(folder, config, kernels)) { }

        // An example more, and one byte of M0's weights (its size unchanged).
        File.AppendAllText(config.Ift, "{\"prompt\": \"What is new?\", \"response\": \"Nothing.\"}\n");
        string weights = Path.Combine(config.BaseModel, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        string message = Assert.Throws<InvalidDataException>(() => Open(folder, config, kernels)).Message;
        Assert.Contains($"ift: {config.Ift} has other contents", message);
        Assert.Contains($"base_model: {config.BaseModel}: model.safetensors has other contents", message);
        Assert.Contains("--accept-changed-inputs", message);
        Assert.DoesNotContain("eft:", message);

        var log = new StringWriter();
        using (Open(folder, config, kernels, log, accept: true)) { }
        Assert.Contains("inputs: changes accepted", log.ToString());
        Assert.Contains("ift:", log.ToString());
        // The new contents are the record now.
        using (Open(folder, config, kernels)) { }
    }

    [Fact]
    public void TheRunVerbsRefuseChangedInputsAndTakeTheFlagThatAcceptsThem()
    {
        string inputs = fixture.NewRunFolder(), folder = fixture.NewRunFolder();
        var config = WithOwnCopies(inputs);
        using (var kernels = new CpuKernels())
        using (RunFolder.Open(folder, config, "test", kernels, new PlainProgress(TextWriter.Null), TextWriter.Null)) { }
        File.AppendAllText(config.Ift, "{\"prompt\": \"What is new?\", \"response\": \"Nothing.\"}\n");

        var refused = CliRunner.Run("eft", "--run", folder);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"ift: {config.Ift} has other contents", refused.Error);

        // Accepted, the verb goes on to its own work (here: finding that the SFT baseline, which comes first, has not run).
        var accepted = CliRunner.Run("eft", "--run", folder, "--accept-changed-inputs");
        Assert.Contains("stage eft needs sft", accepted.Error);
        Assert.Contains("inputs: changes accepted", accepted.Error);
        Assert.DoesNotContain("inputs differ", accepted.Error);
    }

    [Fact]
    public void AFailedFirstOpeningLeavesNoRecordThatTheNextConfigurationWouldDisagreeWith()
    {
        string folder = fixture.NewRunFolder();
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, RunInputs.FileName), "{\"ift\": {\"path\": \"/elsewhere/ift.jsonl\", \"sha256\": \"00\"}}");
        using var kernels = new CpuKernels();
        using (RunFolder.Open(folder, fixture.Config, "test", kernels, new PlainProgress(TextWriter.Null), TextWriter.Null)) { }
        Assert.Contains(fixture.Config.Ift.Replace("\\", "\\\\"), File.ReadAllText(Path.Combine(folder, RunInputs.FileName)));
    }

    [Fact]
    public void EveryModelIsReadWholeOncePerRunNotOncePerStageThatChecksIt()
    {
        string folder = fixture.NewRunFolder();
        using var kernels = new CpuKernels();
        string m1 = Path.Combine(folder, "models", "m1", "model.safetensors"), m0 = Path.Combine(fixture.Config.BaseModel, "model.safetensors");
        using (var run = Open(folder, fixture.Config, kernels))
        {
            var stages = new SelfRewardingRun(run);
            foreach (string stage in new[] { "sft", "eft", "m1", "iter1/prompts" }) stages.RunStage(StageId.Parse(stage));
            // Each file once in this process: M0's weights when the inputs were recorded, M1's when it was written.
            Assert.Equal(run.Hashes.FilesRead.Distinct().Count(), run.Hashes.FilesRead.Count);
            Assert.Contains(m1, run.Hashes.FilesRead);
        }
        using (var run = Open(folder, fixture.Config, kernels))
        {
            // A later process checks the inputs and the models it needs by size and time alone.
            var stages = new SelfRewardingRun(run);
            stages.RunStage(StageId.Parse("iter1/candidates"));
            Assert.DoesNotContain(m1, run.Hashes.FilesRead);
            Assert.DoesNotContain(m0, run.Hashes.FilesRead);

            // A model written anew (same bytes, new time) is read once more, and still passes.
            File.SetLastWriteTimeUtc(m1, DateTime.UtcNow.AddMinutes(1));
            stages.RunStage(StageId.Parse("iter1/judgments"));
            Assert.Single(run.Hashes.FilesRead, m1);
        }
    }
}
