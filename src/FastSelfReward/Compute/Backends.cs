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
}

/// <summary>Creates the <see cref="IKernels"/> a <see cref="DeviceKind"/> names.</summary>
public static class Backends
{
    /// <summary>
    /// The backend for <paramref name="kind"/>. <paramref name="note"/> says why Auto fell back to
    /// the CPU (null otherwise).
    /// </summary>
    /// <exception cref="InvalidOperationException">Cuda was asked for and no GPU is usable; the message says why.</exception>
    public static IKernels Create(DeviceKind kind, out string? note)
    {
        note = null;
        switch (kind)
        {
            case DeviceKind.Cpu:
                return new CpuKernels();
            case DeviceKind.Cuda:
                if (RealCudaDevice.Enumerate(out string? whyNone).Count == 0)
                    throw new InvalidOperationException($"--device cuda: no GPU: {whyNone}");
                return new CudaKernels(new RealCudaDevice());
            default:
                if (RealCudaDevice.Enumerate(out whyNone).Count == 0)
                {
                    note = $"no GPU ({whyNone}); using the CPU";
                    return new CpuKernels();
                }
                try
                {
                    return new CudaKernels(new RealCudaDevice());
                }
                catch (Exception e) when (e is CudaException or DllNotFoundException or NotSupportedException)
                {
                    note = $"the GPU is not usable ({e.Message}); using the CPU";
                    return new CpuKernels();
                }
        }
    }
}
