namespace FastSelfReward.Tests.Cli;

/// <summary>`fsr selftest` on the emulated GPU: every op and the training parity against the CPU.</summary>
public sealed class SelfTestVerbTests
{
    [Fact]
    public void Selftest_on_the_emulator_checks_every_op_and_training_and_passes()
    {
        var result = CliRunner.Run("selftest", "--device", "emulated");
        Assert.True(result.ExitCode == 0, result.Out + result.Error);
        foreach (string check in new[] { "gemm", "embedding", "rmsnorm", "residual", "rope", "attention", "kv cache + decode attention",
                     "swiglu", "token log-probs", "dpo loss", "adamw", "grad norm", "top-p sampling", "training parity" })
            Assert.Matches($@"(pass|pending) +{System.Text.RegularExpressions.Regex.Escape(check)}:", result.Out);
        Assert.Matches(@"selftest: \d+ passed, 0 failed, \d+ pending", result.Out);
        Assert.DoesNotContain("FAIL", result.Out);
    }

    [Fact]
    public void Selftest_on_the_cpu_compares_the_cpu_with_itself()
    {
        var result = CliRunner.Run("selftest", "--device", "cpu");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("selftest: 14 passed, 0 failed, 0 pending", result.Out);
    }
}
