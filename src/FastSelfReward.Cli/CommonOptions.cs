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
    [Option("device", Default = DeviceKind.Cpu, HelpText = "Where the kernels run: cpu, cuda (the first GPU), auto (a GPU when one is usable, else the CPU) or emulated (the CUDA kernels on the CPU emulator, slow).")]
    public DeviceKind Device { get; set; }

    [Option("precision", Default = Precision.Auto, HelpText = "How models store weights and activations: auto (bf16 mixed precision on a GPU, fp32 on the CPU), fp32, or bf16 (bf16 weights copy, activations and KV cache; fp32 master weights, gradients and AdamW moments; GPU only).")]
    public Precision Precision { get; set; }

    /// <summary>Why <see cref="OpenBackend"/> fell back to the CPU under --device auto; null when it did not.</summary>
    public string? BackendNote { get; private set; }

    /// <summary>This process's rank among those of its machine: the GPU it takes.</summary>
    public int LocalRank { get; set; }

    /// <summary>Whether the verb runs as one rank of a job mpirun started with several; the others refuse such a job.</summary>
    public virtual bool RunsOnRanks => false;

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
        if (Precision == Precision.Bf16 && Device == DeviceKind.Cpu)
            throw new UsageException("--precision bf16 needs a GPU (--device cuda, auto or emulated): the CPU kernels are fp32");
        try
        {
            IKernels kernels = Backends.Create(Device, out string? note, Precision, LocalRank);
            BackendNote = note;
            return kernels;
        }
        catch (InvalidOperationException e)
        {
            // The library names the device and precision asked for; here they are flags.
            string flags = $"--device {Device.ToString().ToLowerInvariant()}" + (Precision == Precision.Auto ? "" : $" --precision {Precision.ToString().ToLowerInvariant()}");
            throw new InvalidOperationException($"{flags}: {e.Message}", e);
        }
    }
}
