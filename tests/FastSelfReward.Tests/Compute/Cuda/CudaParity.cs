using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// What every CUDA parity test shares: the emulated device (normal schedule, or reverse order with
/// deferred launches, with sm_90 register counts so the launch limits are enforced), seeded inputs,
/// bf16 rounding, transfers, and the |cuda − cpu| ≤ atol + rtol·|cpu| comparison.
/// </summary>
internal static class CudaParity
{
    public static CudaKernels EmulatedGpu(bool reverse) =>
        new(KernelRegisterCounts.Device(new EmulatorOptions { ReverseOrder = reverse, DeferredLaunches = reverse }));

    /// <summary>count values uniform in [offset − scale, offset + scale), from a seed.</summary>
    public static float[] Random(int count, int seed, double scale = 1.0, double offset = 0.0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale + offset)).ToArray();
    }

    public static float[] RoundBf16(float[] values) => values.Select(BFloat16.Round).ToArray();

    /// <summary>The values as a tensor of <paramref name="type"/> holds them.</summary>
    public static float[] Stored(float[] values, DType type) => type == DType.BF16 ? RoundBf16(values) : values;

    public static DeviceBuffer Put(IKernels kernels, float[] values, DType type)
    {
        DeviceBuffer buffer = kernels.Allocate(values.Length, type);
        kernels.Upload(buffer, values);
        return buffer;
    }

    public static DeviceBuffer Put(IKernels kernels, int[] values)
    {
        DeviceBuffer buffer = kernels.Allocate(values.Length, DType.I32);
        kernels.Upload(buffer, values);
        return buffer;
    }

    /// <summary>RoPE's inverse-frequency table (F64) for base <paramref name="theta"/>, optionally with Llama 3's scaling.</summary>
    public static DeviceBuffer Frequencies(IKernels kernels, int headDim, double theta, FastSelfReward.Model.Llama3RopeScaling? scaling = null)
    {
        DeviceBuffer buffer = kernels.Allocate(headDim / 2, DType.F64);
        kernels.Upload(buffer, FastSelfReward.Model.RopeFrequencies.Of(theta, headDim, scaling));
        return buffer;
    }

    public static float[] Get(IKernels kernels, Tensor tensor)
    {
        var values = new float[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    public static int[] Ints(IKernels kernels, Tensor tensor)
    {
        var values = new int[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    /// <summary>Fails naming the first element where |actual − expected| > atol + rtol·|expected|.</summary>
    public static void Close(float[] expected, float[] actual, double rtol, double atol, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (!(error <= atol + rtol * Math.Abs(expected[i])))
                Assert.Fail($"{name}[{i}]: cuda {actual[i]:R} vs cpu {expected[i]:R} (|error| {error:E2} > {atol} + {rtol}·|cpu|)");
        }
    }
}
