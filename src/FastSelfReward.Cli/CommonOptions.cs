using CommandLine;
using FastSelfReward.Compute;

namespace FastSelfReward.Cli;

/// <summary>
/// The options every verb takes, and the handler each verb supplies. The compute backend is chosen
/// here and only here (<see cref="OpenBackend"/>), so a device option lands in one place.
/// </summary>
public abstract class CommonOptions
{
    [Option("threads", HelpText = "CPU threads for the kernels (default: every core).")]
    public int? Threads { get; set; }

    // cpu stays the default until the CUDA backend covers every op (issue 8): until then a model on
    // the GPU stops at its first missing op.
    [Option("device", Default = DeviceKind.Cpu, HelpText = "Where the kernels run: cpu, cuda (the first GPU) or auto (a GPU when one is usable, else the CPU).")]
    public DeviceKind Device { get; set; }

    /// <summary>Why <see cref="OpenBackend"/> fell back to the CPU under --device auto; null when it did not.</summary>
    public string? BackendNote { get; private set; }

    /// <summary>Runs the verb; returns the exit code. Throws <see cref="UsageException"/> for arguments it cannot use.</summary>
    public abstract int Run(VerbContext context);

    /// <summary>The compute backend these options select.</summary>
    public IKernels OpenBackend()
    {
        if (Threads is int threads)
        {
            if (threads <= 0) throw new UsageException($"--threads must be positive, got {threads}");
            CpuKernels.Threads = threads;
        }
        IKernels kernels = Backends.Create(Device, out string? note);
        BackendNote = note;
        return kernels;
    }
}
