using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Compute;

/// <summary>Where the kernels run.</summary>
public enum DeviceKind
{
    /// <summary>The first GPU when one is present and usable, else the CPU.</summary>
    Auto,
    /// <summary>libfsr_native on the CPU.</summary>
    Cpu,
    /// <summary>The first GPU; an error when there is none.</summary>
    Cuda,
    /// <summary>The CUDA kernels on the CPU emulator (native/cuda_emu): slow, for checking GPU code without a GPU.</summary>
    Emulated,
}

/// <summary>How a model stores its weights and activations (<see cref="IKernels.ModelType"/>).</summary>
public enum Precision
{
    /// <summary>The backend's choice: bf16 mixed precision on a GPU, fp32 on the CPU.</summary>
    Auto,
    /// <summary>fp32 everywhere.</summary>
    Fp32,
    /// <summary>bf16 weights copy, activations and KV cache with fp32 master weights, gradients and moments (GPU only).</summary>
    Bf16,
}

/// <summary>Creates the <see cref="IKernels"/> a <see cref="DeviceKind"/> names.</summary>
public static class Backends
{
    /// <summary>
    /// The backend for <paramref name="kind"/>. <paramref name="note"/> says why Auto fell back to
    /// the CPU (null otherwise).
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// Cuda was asked for and no GPU is usable, or bf16 was asked for on the CPU; the message says why.
    /// </exception>
    /// <param name="kind">Where the kernels run.</param>
    /// <param name="note">Why Auto fell back to the CPU; null otherwise.</param>
    /// <param name="precision">How models store weights and activations.</param>
    /// <param name="gpu">Which GPU, in the driver's order: a rank's local rank, so each process of a machine takes its own.</param>
    public static IKernels Create(DeviceKind kind, out string? note, Precision precision = Precision.Auto, int gpu = 0)
    {
        note = null;
        DType gpuType = precision == Precision.Fp32 ? DType.F32 : DType.BF16;
        switch (kind)
        {
            case DeviceKind.Cpu:
                return Cpu(precision, "the CPU");
            case DeviceKind.Cuda:
                int count = RealCudaDevice.Enumerate(out string? whyNone).Count;
                if (count == 0) throw new InvalidOperationException($"no GPU: {whyNone}");
                if (gpu >= count) throw new InvalidOperationException($"GPU {gpu} is wanted (one per process of this machine) and there are {count}: start at most {count} ranks per machine");
                return new CudaKernels(new RealCudaDevice(gpu), modelType: gpuType);
            case DeviceKind.Emulated:
                return new CudaKernels(new EmulatedCudaDevice(), modelType: gpuType);
            default:
                if (RealCudaDevice.Enumerate(out whyNone).Count == 0)
                {
                    note = $"no GPU ({whyNone}); using the CPU";
                    return Cpu(precision, "the CPU (no GPU was found)");
                }
                try
                {
                    return new CudaKernels(new RealCudaDevice(gpu), modelType: gpuType);
                }
                catch (Exception e) when (e is CudaException or DllNotFoundException or NotSupportedException)
                {
                    note = $"the GPU is not usable ({e.Message}); using the CPU";
                    return Cpu(precision, "the CPU (the GPU was not usable)");
                }
        }
    }

    private static CpuKernels Cpu(Precision precision, string what) => precision == Precision.Bf16
        ? throw new InvalidOperationException($"{what} has no bf16 kernels; fp32 or auto precision runs there")
        : new CpuKernels();
}
