using CommandLine;
using FastSelfReward.Compute;

namespace FastSelfReward.Cli;

[Verb("selftest", HelpText = "Check every kernel of the backend against the CPU kernels and a short training run against the CPU's " +
    "(--device cuda on a GPU, --device emulated without one). Exit code 1 when any check fails; ops not yet on the backend are reported as pending.")]
public sealed class SelfTestOptions : CommonOptions
{
    public override int Run(VerbContext context)
    {
        using var kernels = OpenBackend();
        context.Out.WriteLine($"selftest: {kernels.Name} ({kernels.Describe()}) against cpu");
        if (BackendNote is not null) context.Out.WriteLine(BackendNote);
        var results = KernelSelfTest.Run(kernels, r => context.Out.WriteLine($"  {Label(r.Outcome),-7} {r.Name}: {r.Detail}"));
        int pass = results.Count(r => r.Outcome == SelfTestOutcome.Pass);
        int fail = results.Count(r => r.Outcome == SelfTestOutcome.Fail);
        int pending = results.Count(r => r.Outcome == SelfTestOutcome.Pending);
        context.Out.WriteLine($"selftest: {pass} passed, {fail} failed, {pending} pending");
        return fail == 0 ? 0 : 1;
    }

    private static string Label(SelfTestOutcome outcome) => outcome switch
    {
        SelfTestOutcome.Pass => "pass",
        SelfTestOutcome.Fail => "FAIL",
        _ => "pending",
    };
}
