using CommandLine;
using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Training;

namespace FastSelfReward.Cli;

[Verb("selftest", HelpText = "Check every kernel of the backend against the CPU kernels and a short training run against the CPU's " +
    "(--device cuda on a GPU, --device emulated without one). Exit code 1 when any check fails.")]
public sealed class SelfTestOptions : CommonOptions
{
    [Option("collectives", HelpText = "Check the collectives of the MPI job instead (run under mpirun -np N): barrier, broadcast, all-reduce, reduce-scatter and all-gather against sums in rank order, bit for bit; the backend's buffers summed as training sums them (NCCL on a GPU that has it); and an optimizer's ZeRO-1 steps through those sums against steps without.")]
    public bool Collectives { get; set; }

    public override bool RunsOnRanks => true;

    public override int Run(VerbContext context)
    {
        if (Collectives) return CheckCollectives(context);
        using var kernels = OpenBackend();
        context.Out.WriteLine($"selftest: {kernels.Name} ({kernels.Describe()}) against cpu");
        if (BackendNote is not null) context.Out.WriteLine(BackendNote);
        void Report(SelfTestResult r) => context.Out.WriteLine($"  {(r.Passed ? "pass" : "FAIL"),-7} {r.Name}: {r.Detail}");
        var results = KernelSelfTest.Run(kernels, Report).Concat(TrainingParity.Run(kernels, Report)).ToList();
        int fail = results.Count(r => !r.Passed);
        context.Out.WriteLine($"selftest: {results.Count - fail} passed, {fail} failed");
        return fail == 0 ? 0 : 1;
    }

    /// <summary>Every rank checks every collective; rank 0 prints the results, any rank its own failures; all ranks exit alike.</summary>
    private int CheckCollectives(VerbContext context)
    {
        var world = context.World;
        if (world.IsRoot) context.Out.WriteLine($"selftest: collectives over {world.Size} rank{(world.Size == 1 ? "" : "s")}" +
                                                (world.Size == 1 ? " (no MPI job: started without mpirun)" : " (MPI, sums in rank order)"));
        var results = CollectiveCheck.Run(world);
        // And the backend's own buffers, summed as training sums them (--device picks the backend).
        using (var kernels = OpenBackend())
        {
            using (var collectives = DeviceCollectives.For(kernels, world, evenAlone: true)!)
                results.AddRange(CollectiveCheck.RunOnDevice(kernels, collectives, world));
            // And an optimizer's steps through them, each rank a job of its own (a sum over one rank is exact whatever sums it).
            using var alone = DeviceCollectives.For(kernels, Communicator.Single, evenAlone: true)!;
            results.Add(CollectiveCheck.TrainingSteps(kernels, alone));
        }
        foreach (var r in results.Where(r => world.IsRoot || !r.Passed))
            context.Out.WriteLine($"  {(r.Passed ? "pass" : "FAIL"),-7} {(world.IsRoot ? "" : $"rank {world.Rank}: ")}{r.Name}: {r.Detail}");
        double[] failures = [results.Count(r => !r.Passed)];
        world.AllReduceSum(failures);
        if (world.IsRoot) context.Out.WriteLine($"selftest: {results.Count * world.Size - failures[0]} passed, {failures[0]} failed (over all ranks)");
        return failures[0] == 0 ? 0 : 1;
    }
}
