using FastSelfReward.Compute;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>Moving test data in and out of <see cref="CpuKernels"/> memory.</summary>
internal static class KernelBuffers
{
    /// <summary>A buffer of the backend's floating type holding <paramref name="values"/>.</summary>
    public static DeviceBuffer Floats(this CpuKernels kernels, ReadOnlySpan<double> values)
    {
        DeviceBuffer buffer = kernels.Allocate(values.Length, kernels.FloatType);
        kernels.Upload(buffer, values);
        return buffer;
    }

    /// <summary>A buffer of the backend's floating type with every element set to <paramref name="value"/>.</summary>
    public static DeviceBuffer Filled(this CpuKernels kernels, long length, double value)
    {
        var values = new double[length];
        Array.Fill(values, value);
        return kernels.Floats(values);
    }

    /// <summary>An I32 buffer holding <paramref name="values"/>.</summary>
    public static DeviceBuffer Ints(this CpuKernels kernels, ReadOnlySpan<int> values)
    {
        DeviceBuffer buffer = kernels.Allocate(values.Length, DType.I32);
        kernels.Upload(buffer, values);
        return buffer;
    }

    /// <summary>Every element of a floating tensor, as double.</summary>
    public static double[] Read(this CpuKernels kernels, Tensor tensor)
    {
        var values = new double[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    /// <summary>Every element of an I32 tensor.</summary>
    public static int[] ReadInts(this CpuKernels kernels, Tensor tensor)
    {
        var values = new int[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    /// <summary><paramref name="count"/> values uniform in [-scale, scale).</summary>
    public static double[] Uniform(this Random random, int count, double scale = 1)
    {
        var values = new double[count];
        for (int i = 0; i < count; i++) values[i] = scale * (2 * random.NextDouble() - 1);
        return values;
    }

    /// <summary>Asserts |actual − expected| ≤ tolerance · max(1, |expected|) elementwise.</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            // The message is formatted only on failure: these loops run over 10⁵ elements.
            if (!(error <= tolerance * Math.Max(1, Math.Abs(expected[i]))))
                Assert.Fail($"{name}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (error {error:E3}, tolerance {tolerance:E1})");
        }
    }
}
