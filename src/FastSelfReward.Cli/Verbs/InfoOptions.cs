using CommandLine;

namespace FastSelfReward.Cli;

[Verb("info", HelpText = "Print the compute backend, its threads, BLAS and CPU features.")]
public sealed class InfoOptions : CommonOptions
{
    public override int Run(VerbContext context)
    {
        using var kernels = OpenBackend();
        context.Out.WriteLine($"backend: {kernels.Name}");
        context.Out.WriteLine(kernels.Describe());
        return 0;
    }
}
