using FastSelfReward.Checkpoints;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Cli;

/// <summary>
/// `fsr demo --preset quick`, the CI smoke test: the whole demo through the verb, from the world's
/// data to the report, and a rerun that finds everything done and evaluates nothing again.
/// </summary>
public sealed class DemoVerbTests
{
    [Fact]
    public void The_quick_demo_writes_its_report_and_a_rerun_recomputes_nothing()
    {
        using var dir = new ScratchFolder();
        string folder = dir.File("demo");

        var first = CliRunner.Run("demo", "--preset", "quick", "--out", folder);
        Assert.True(first.ExitCode == 0, first.Error);
        Assert.Contains("| Pairwise accuracy % |", first.Out);
        Assert.Contains("## Does self-rewarding work here?", first.Out);
        foreach (string file in new[] { "report.md", "report.json", "plots/scores.png", "plots/training_losses.png", "eval/m3.json" })
            Assert.True(File.Exists(Path.Combine(folder, file)), $"{file} missing");

        var again = CliRunner.Run("demo", "--preset", "quick", "--out", folder);
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Contains("evaluation m3: done, skipped", again.Error);
        Assert.DoesNotContain("running", again.Error);
        Assert.Equal(first.Out, again.Out);
    }

    [Fact]
    public void A_demo_folder_another_process_holds_is_refused_before_any_work()
    {
        using var dir = new ScratchFolder();
        string folder = dir.File("demo");
        using (FolderLock.Acquire(folder))
        {
            var result = CliRunner.Run("demo", "--preset", "quick", "--out", folder);
            Assert.Equal(1, result.ExitCode);
            Assert.Contains($"{folder} is in use by process {Environment.ProcessId}", result.Error);
            Assert.False(Directory.Exists(Path.Combine(folder, "data")), "the demo wrote data into a folder it did not hold");
        }
    }

    [Fact]
    public void An_unknown_preset_is_a_usage_error()
    {
        var result = CliRunner.Run("demo", "--preset", "huge", "--out", "unused");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--preset", result.Error);
    }
}
