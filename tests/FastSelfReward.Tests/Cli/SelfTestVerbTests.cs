using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Cli;

/// <summary>`fsr selftest` on the emulated GPU: every op (fp32 and bf16) and the training parity against the CPU.</summary>
public sealed class SelfTestVerbTests
{
    [Fact]
    public void Selftest_on_the_emulator_checks_every_op_in_fp32_and_bf16_and_training_and_passes()
    {
        var result = CliRunner.Run("selftest", "--device", "emulated");
        Assert.True(result.ExitCode == 0, result.Out + result.Error);
        foreach (string check in new[] { "gemm", "embedding", "rmsnorm", "residual", "rope", "attention", "attention head_dim 64",
                     "attention head_dim 128", "kv cache + decode attention", "kv cache + decode attention head_dim 128", "swiglu",
                     "token log-probs", "dpo loss", "adamw", "grad norm", "top-p sampling", "training parity",
                     "gemm bf16", "embedding bf16", "rmsnorm bf16", "residual bf16", "rope bf16", "attention head_dim 64 bf16",
                     "attention head_dim 128 bf16", "kv cache + decode attention head_dim 128 bf16", "swiglu bf16", "token log-probs bf16",
                     "training parity bf16", "tensor cores: ldmatrix + mma.sync.m16n8k16 bf16 tile" })
            Assert.Matches($@"pass +{System.Text.RegularExpressions.Regex.Escape(check)}:", result.Out);
        Assert.Contains("selftest: 29 passed, 0 failed", result.Out);
    }

    [Fact]
    public void Selftest_on_the_cpu_compares_the_cpu_with_itself_in_fp32_only()
    {
        var result = CliRunner.Run("selftest", "--device", "cpu");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("selftest: 17 passed, 0 failed", result.Out);
        Assert.DoesNotContain("bf16", result.Out);
    }

    [Fact]
    public void A_bf16_kernel_off_by_a_little_more_than_its_rounding_fails_its_check_and_only_that()
    {
        var gpu = new CudaKernels(new EmulatedCudaDevice());
        using var broken = new OffInBf16(gpu);
        var results = KernelSelfTest.Run(broken);
        Assert.False(results.Single(r => r.Name == "rmsnorm bf16").Passed);
        Assert.All(results.Where(r => !r.Name.StartsWith("rmsnorm bf16", StringComparison.Ordinal)),
            r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
    }

    /// <summary>Moves one element of a bf16 RMSNorm output by 2% (four bf16 steps); every other call passes through.</summary>
    private sealed class OffInBf16(IKernels inner) : ForwardingKernels(inner)
    {
        public override void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps)
        {
            Inner.RmsNormForward(output, rstd, x, weight, n, dim, eps);
            if (output.Type != DType.BF16) return;
            var values = new float[output.Length];
            Inner.Download(output, values);
            values[values.Length / 2] *= 1.02f;
            Inner.Upload(output, values);
        }
    }
}
