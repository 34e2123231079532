using CommandLine;
using FastSelfReward.Compute;
using FastSelfReward.Training;

namespace FastSelfReward.Cli;

[Verb("selftest", HelpText = "Check every kernel of the backend against the CPU kernels and a short training run against the CPU's " +
    "(--device cuda on a GPU, --device emulated without one). Exit code 1 when any check fails.")]
public sealed class SelfTestOptions : CommonOptions
{
    public override int Run(VerbContext context)
    {
        using var kernels = OpenBackend();
        context.Out.WriteLine($"selftest: {kernels.Name} ({kernels.Describe()}) against cpu");
        if (BackendNote is not null) context.Out.WriteLine(BackendNote);
        void Report(SelfTestResult r) => context.Out.WriteLine($"  {(r.Passed ? "pass" : "FAIL"),-7} {r.Name}: {r.Detail}");
        var results = KernelSelfTest.Run(kernels, Report).Concat(TrainingParity.Run(kernels, Report)).ToList();
        int fail = results.Count(r => !r.Passed);
        context.Out.WriteLine($"selftest: {results.Count - fail} passed, {fail} failed");
        return fail == 0 ? 0 : 1;
    }
}
