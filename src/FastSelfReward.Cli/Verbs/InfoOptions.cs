using CommandLine;
using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Cli;

[Verb("info", HelpText = "Print the compute backend (threads, BLAS and CPU features, or the GPU), the models' precision, whether NVTX ranges are compiled in, and every GPU present.")]
public sealed class InfoOptions : CommonOptions
{
    public override bool RunsOnRanks => true;

    public override int Run(VerbContext context)
    {
        using var kernels = OpenBackend();
        context.Out.WriteLine($"backend: {kernels.Name}");
        context.Out.WriteLine(kernels.Describe());
        if (BackendNote is not null) context.Out.WriteLine(BackendNote);
        context.Out.WriteLine(kernels.ModelType == DType.BF16
            ? "models: bf16 mixed precision (bf16 weights copy, activations, KV cache; fp32 master weights, gradients, AdamW moments)"
            : $"models: {kernels.ModelType.ToString().ToLowerInvariant()}");
        context.Out.WriteLine(context.World.Size == 1 ? "ranks: 1 (started without mpirun)"
            : $"ranks: {context.World.Size}, this one {context.World.Rank} (local rank {context.World.LocalRank})");
        context.Out.WriteLine(Nvtx.CompiledIn
            ? "nvtx: compiled in (ranges in domain FastSelfReward; nsys profile --trace=cuda,nvtx shows them)"
            : "nvtx: not compiled in (libfsr_native was built without the nvtx3 headers; see docs/cuda.md, Profiling)");
        IReadOnlyList<CudaDeviceInfo> gpus = RealCudaDevice.Enumerate(out string? whyNone);
        if (gpus.Count == 0)
        {
            context.Out.WriteLine($"gpus: none ({whyNone})");
            return 0;
        }
        context.Out.WriteLine("gpus:");
        foreach (CudaDeviceInfo gpu in gpus) context.Out.WriteLine($"  {gpu}");
        return 0;
    }
}
